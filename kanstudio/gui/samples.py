"""The bundled sample datasets (``sample_datasets/catalog.json``), for File ▸ Open Sample."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Sample", "sample_dir", "load_catalog"]


@dataclass(frozen=True)
class Sample:
    path: Path
    target: str
    inputs: list[str]
    formula: str

    @property
    def title(self) -> str:
        return f"{self.path.stem}  —  {self.target} = {self.formula}"


def sample_dir() -> Path | None:
    """The sample folder next to the package (source checkout or installed alongside)."""
    here = Path(__file__).resolve()
    for base in (here.parents[2], here.parents[1], Path.cwd()):
        folder = base / "sample_datasets"
        if (folder / "catalog.json").is_file():
            return folder
    return None


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
