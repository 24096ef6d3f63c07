"""KAN Studio: discover formulas with Kolmogorov-Arnold Networks."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["KAN", "__version__"]


def __getattr__(name: str):
    # Imported lazily so that `kanstudio --version` and the GUI's first paint do not
    # wait for torch to import.
    if name == "KAN":
        from kanstudio.model.kan import KAN

        return KAN
    raise AttributeError(f"module 'kanstudio' has no attribute {name!r}")
