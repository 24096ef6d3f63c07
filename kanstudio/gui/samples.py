"""The bundled sample datasets (``sample_datasets/catalog.json``), for File ▸ Open Sample.

The top-level ``sample_datasets/`` folder is the one source of truth. pyproject.toml maps it
into the package as ``kanstudio/sample_datasets`` (and ``resources/`` as
``kanstudio/resources``), so an installed wheel or the frozen app finds them with
importlib.resources; a source checkout (editable install) finds the folders next to the
package instead.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

__all__ = ["Sample", "bundled_dir", "sample_dir", "load_catalog"]


@dataclass(frozen=True)
class Sample:
    path: Path
    target: str
    inputs: list[str]
    formula: str

    @property
    def title(self) -> str:
        return f"{self.path.stem}  —  {self.target} = {self.formula}"


def bundled_dir(name: str, marker: str) -> Path | None:
    """A data folder shipped with the app (``sample_datasets`` or ``resources``).

    First the package data (``kanstudio/<name>`` in an installed wheel or the frozen app),
    then the source checkout's top-level folder. ``marker`` is a file the folder must hold.
    """
    try:
        packaged = resources.files("kanstudio") / name
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - kanstudio is importable
        packaged = None
    candidates = []
    if isinstance(packaged, Path):  # a plain folder on disk (not inside a zip)
        candidates.append(packaged)
    candidates.append(Path(__file__).resolve().parents[2] / name)  # source checkout
    for folder in candidates:
        if (folder / marker).is_file():
            return folder
    return None


def sample_dir() -> Path | None:
    """The folder that holds ``catalog.json`` and the sample CSVs, or None."""
    return bundled_dir("sample_datasets", "catalog.json")


def load_catalog(folder: Path | None = None) -> list[Sample]:
    """Samples listed in the catalog whose CSV exists; [] when there is no catalog."""
    folder = folder or sample_dir()
    if folder is None:
        return []
    try:
        entries = json.loads((folder / "catalog.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    samples = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            continue
        path = folder / entry["file"]
        inputs = entry.get("inputs")
        if path.is_file():
            samples.append(Sample(path, str(entry.get("target", "")),
                                  [str(i) for i in inputs] if isinstance(inputs, list) else [],
                                  str(entry.get("formula", ""))))
    return samples
