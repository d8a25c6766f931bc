"""Seeded sample data from ``dataset`` definitions.

    result = app.features["generate"].run("admin", "demo", seed=7, scale=0.5,
                                          progress=lambda entity, done, total: ...)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..actor import UserLike
from ..errors import NotFound
from .runner import CompiledDataset, GenerateResult, Progress

if TYPE_CHECKING:
    from ..app import App

__all__ = ["CompiledDataset", "GenerateResult", "Generator", "install"]


class Generator:
    """``app.features["generate"]``: the app's datasets, compiled once."""

    def __init__(self, app: App) -> None:
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
    app.features["generate"] = Generator(app)
