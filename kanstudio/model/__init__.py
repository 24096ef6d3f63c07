"""The model API: :class:`KAN`, the estimator scripts and the session use.

- :mod:`.kan` — :class:`KAN` (fit, predict, prune, refine, save/load) over :mod:`kanstudio.core`.
- :mod:`.symbolic_verbs` — its symbolic verbs (suggest, lock, auto-symbolic, formula) over
  :mod:`kanstudio.symbolic`.
- :mod:`.archive` — the zip container with atomic saves used by model and project files.
"""

from __future__ import annotations

from kanstudio.model.kan import KAN, ModelFileError

__all__ = ["KAN", "ModelFileError"]
