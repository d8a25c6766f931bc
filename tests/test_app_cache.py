"""The disk cache of loaded and checked apps (dsl/cache.py): what a new process finds, and what it never trusts."""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from pathlib import Path

import pytest

from ordo.dsl import cache, loader
from ordo.dsl.errors import DefinitionErrors
from ordo.dsl.loader import load_app

FILES = {
    "entities/item.yaml": """
        name: item
        fields:
          qty: {type: integer, required: true}
          price: {type: decimal}
          total: {type: computed, expr: "qty * coalesce(price, 0)"}
          big: {type: computed, expr: "total > 100 and qty >= 2"}
    """,
}


@pytest.fixture
def cache_dir(tmp_path, monkeypatch) -> Path:
    """A fresh cache folder, and no app kept in this process (each load_app reads the disk cache)."""
    where = tmp_path / "cache"
    monkeypatch.setenv("ORDO_CACHE_DIR", str(where))
    monkeypatch.delenv("ORDO_CACHE", raising=False)
    monkeypatch.setattr(loader, "_LOADED", OrderedDict())
    return where


def entries(where: Path) -> list[Path]:
    return sorted(where.glob(f"{cache.PREFIX}*{cache.SUFFIX}")) if where.is_dir() else []


def fresh_process(monkeypatch) -> None:
    """Forget the apps this process loaded, as a new process would."""
    monkeypatch.setattr(loader, "_LOADED", OrderedDict())


def no_loading(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the app was loaded from its files, not from the cache")

    monkeypatch.setattr(loader.AppLoader, "load", refuse)


def test_hit_after_miss_gives_an_equal_app(make_app, cache_dir, monkeypatch):
    root = make_app(FILES)
    first = load_app(root)
    assert len(entries(cache_dir)) == 1
    fresh_process(monkeypatch)
    no_loading(monkeypatch)
    second = load_app(root)
    assert second is not first
    assert second.to_yaml_files() == first.to_yaml_files()
    assert second.root == first.root and second.name == first.name
    assert second.located("entity", "item").source.values == first.located("entity", "item").source.values
    # compiled expressions come back as working functions (their code was marshalled, not compiled again)
    assert len(second.schema.compiled) == len(first.schema.compiled) > 0
    for key, compiled in first.schema.compiled.items():
        again = second.schema.compiled[key]
        assert again.source == compiled.source
        row = {"qty": 3, "price": 50, "total": 150}
        assert again(row) == compiled(row)


def test_source_positions_come_back_packed_and_unpack_on_use(make_app, cache_dir, monkeypatch):
    """A cached app's YAML positions are one bytes value per document until asked for (an error to report):
    opening it does not rebuild them; asked, they are the same, and errors still name file:line:column."""
    root = make_app(FILES)
    first = load_app(root).located("entity", "item").source
    fresh_process(monkeypatch)
    second = load_app(root).located("entity", "item").source
    assert "_packed" in vars(second) and "values" not in vars(second)
    again = pickle.loads(pickle.dumps(second))  # stored again before use (cache.remember): still packed
    assert "_packed" in vars(again)
    path = ("fields", "qty", "type")
    assert str(second.error(path, "wrong")) == str(first.error(path, "wrong"))
    error = second.error(path, "wrong")
    assert (error.file, error.line) == (f"{root.name}/entities/item.yaml", 3) and error.column > 1
    assert "_packed" not in vars(second)
    assert (again.values, again.keys) == (first.values, first.keys)


def test_opening_on_a_database_stores_what_it_compiled(make_app, cache_dir, monkeypatch, tmp_path):
    from ordo.engine.app import App

    root = make_app(FILES)
    definition = load_app(root)
    before = len(definition.schema.compiled)
    App(definition, f"sqlite:///{tmp_path / 'a.db'}").close()
    grown = len(definition.schema.compiled)
    fresh_process(monkeypatch)
    assert len(load_app(root).schema.compiled) == grown >= before


def test_editing_a_definition_file_invalidates(make_app, cache_dir, monkeypatch):
    root = make_app(FILES)
    assert "note" not in load_app(root).entities["item"].fields
    (root / "entities" / "item.yaml").write_text(
        (root / "entities" / "item.yaml").read_text() + "  note: {type: string}\n", encoding="utf-8")
    fresh_process(monkeypatch)
    assert "note" in load_app(root).entities["item"].fields
    assert len(entries(cache_dir)) == 2


def test_ordo_cache_0_turns_it_off(make_app, cache_dir, monkeypatch):
    monkeypatch.setenv("ORDO_CACHE", "0")
    root = make_app(FILES)
    load_app(root)
    fresh_process(monkeypatch)
    load_app(root)
    assert cache.folder() is None and entries(cache_dir) == []


def test_a_folder_others_may_write_is_never_used(make_app, cache_dir, monkeypatch):
    cache_dir.mkdir(mode=0o700)
    os.chmod(cache_dir, 0o777)
    root = make_app(FILES)
    load_app(root)
    assert cache.folder() is None and entries(cache_dir) == []
    os.chmod(cache_dir, 0o700)
    assert cache.folder() == cache_dir


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="giving a folder away needs root")
def test_a_folder_of_another_user_is_never_used(make_app, cache_dir, monkeypatch):
    cache_dir.mkdir(mode=0o700)
    root = make_app(FILES)
    load_app(root)  # stored while the folder is ours
    (entry,) = entries(cache_dir)
    os.chown(entry, 65534, 65534)
    fresh_process(monkeypatch)
    no_loading(monkeypatch)
    with pytest.raises(AssertionError, match="not from the cache"):
        load_app(root)  # an entry another user wrote is not read either
    monkeypatch.undo()
    monkeypatch.setenv("ORDO_CACHE_DIR", str(cache_dir))
    os.chown(entry, os.getuid(), os.getgid())
    os.chown(cache_dir, 65534, 65534)
    fresh_process(monkeypatch)
    no_loading(monkeypatch)
    with pytest.raises(AssertionError, match="not from the cache"):
        load_app(root)  # the entry is there, but the folder is not ours: it is not read
    assert cache.folder() is None


def test_a_corrupt_entry_is_rebuilt(make_app, cache_dir, monkeypatch):
    root = make_app(FILES)
    load_app(root)
    (entry,) = entries(cache_dir)
    for bad in (b"", b"not a pickle", entry.read_bytes()[:1000], pickle.dumps((cache.FORMAT, "other key", None))):
        entry.write_bytes(bad)
        fresh_process(monkeypatch)
        assert "item" in load_app(root).entities
        (entry,) = entries(cache_dir)
        assert pickle.loads(entry.read_bytes())[0] == cache.FORMAT  # written again, whole


def test_errors_are_reported_with_positions_and_never_cached(make_app, cache_dir, monkeypatch):
    root = make_app({"entities/item.yaml": """
        name: item
        fields:
          qty: {type: integer}
          total: {type: computed, expr: "qty * nope"}
    """})
    for _ in range(2):
        fresh_process(monkeypatch)
        with pytest.raises(DefinitionErrors) as e:
            load_app(root)
        (error,) = e.value.errors
        assert "nope" in error.message
        assert (error.file, error.line) == (f"{root.name}/entities/item.yaml", 4)
        assert error.column is not None and error.column > 1
        assert entries(cache_dir) == []


def test_least_recently_used_entries_go_first(make_app, cache_dir, monkeypatch):
    monkeypatch.setattr(cache, "MAX_ENTRIES", 2)
    roots = [make_app(FILES, name=f"app{i}") for i in range(3)]
    load_app(roots[0])
    load_app(roots[1])
    (cache_dir / "marker").touch()
    first = next(e for e in entries(cache_dir) if pickle.loads(e.read_bytes())[2].name == "app0")
    os.utime(first, ns=(1, 1))
    os.utime(next(e for e in entries(cache_dir) if e != first), ns=(2, 2))
    fresh_process(monkeypatch)
    load_app(roots[0])  # a hit: now the most recently used
    load_app(roots[2])
    names = sorted(pickle.loads(e.read_bytes())[2].name for e in entries(cache_dir))
    assert names == ["app0", "app2"]


def test_the_key_follows_the_path_and_the_code(make_app, cache_dir, monkeypatch):
    key = cache.entry_key(cache.place_of("some/app"), "digest")
    assert cache.entry_key(cache.place_of("other/app"), "digest") != key
    assert cache.entry_key(cache.place_of("some/app"), "digest2") != key
    monkeypatch.setattr(cache, "code_stamp", lambda: "another version of Ordo")
    assert cache.entry_key(cache.place_of("some/app"), "digest") != key
    monkeypatch.undo()
    monkeypatch.chdir(cache_dir.parent)
    assert cache.entry_key(cache.place_of("some/app"), "digest") != key  # another folder of that name


def test_files_from_a_database_are_cached_with_the_app_they_extend(make_app, cache_dir, monkeypatch, tmp_path):
    from ordo.dsl import files as app_files

    base = make_app(FILES, name="base")
    files = {"app.yaml": f"name: shop\nversion: 1\nextends: ../{base.name}\n",
             "entities/note.yaml": "name: note\nfields:\n  text: {type: string}\n"}
    root = tmp_path / "shop"
    monkeypatch.setattr(app_files, "_LOADED", OrderedDict())
    first = app_files.load_files(files, root=root)
    assert set(first.entities) == {"item", "note"} and len(entries(cache_dir)) == 1
    monkeypatch.setattr(app_files, "_LOADED", OrderedDict())
    no_loading(monkeypatch)
    assert app_files.load_files(files, root=root).to_yaml_files() == first.to_yaml_files()
    monkeypatch.undo()
    monkeypatch.setenv("ORDO_CACHE_DIR", str(cache_dir))
    (base / "entities" / "extra.yaml").write_text("name: extra\nfields:\n  n: {type: integer}\n")
    monkeypatch.setattr(app_files, "_LOADED", OrderedDict())
    monkeypatch.setattr(loader, "_LOADED", OrderedDict())
    assert "extra" in app_files.load_files(files, root=root).entities  # the base changed: loaded again


def test_builtin_apps_are_cached(cache_dir, monkeypatch):
    first = load_app("builtin:oms")
    fresh_process(monkeypatch)
    no_loading(monkeypatch)
    assert load_app("builtin:oms").to_yaml_files() == first.to_yaml_files()
