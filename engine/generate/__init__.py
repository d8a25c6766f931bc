"""Seeded sample data from ``dataset`` definitions.

    result = app.features["generate"].run("admin", "demo", seed=7, scale=0.5,
                                          progress=lambda entity, done, total: ...)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..actor import UserLike
from ..errors import NotFound
from ..features import Later, lazy_export

if TYPE_CHECKING:
    from ..app import App
    from .runner import CompiledDataset, GenerateResult, Progress

__all__ = ["CompiledDataset", "GenerateResult", "Generator", "install"]

_EXPORTS = {"CompiledDataset": ".runner", "GenerateResult": ".runner"}  # imported at their first use


def __getattr__(name: str) -> Any:
    return lazy_export(__name__, _EXPORTS, name)


class Generator:
    """``app.features["generate"]``: the app's datasets, compiled once."""

    def __init__(self, app: App) -> None:
        from .runner import CompiledDataset

        self.app = app
        self.datasets = {d.name: CompiledDataset(app, d) for d in app.definition.all("dataset")}

    def dataset(self, name: str) -> CompiledDataset:
        found = self.datasets.get(name)
        if found is None:
            raise NotFound(f"no dataset '{name}' (datasets: {', '.join(self.datasets) or 'none'})")
        return found

    def run(self, user: UserLike, dataset: str, *, seed: int | None = None, scale: float = 1.0,
            batch_size: int | None = None, progress: Progress | None = None) -> GenerateResult:
        """Generate ``dataset`` as ``user``; the same seed and scale give the same records."""
        return self.dataset(dataset).run(user, seed=seed, scale=scale, batch_size=batch_size, progress=progress)


def install(app: App) -> None:
    app.features["generate"] = Later(lambda: Generator(app))  # compiled at the first run or lookup
