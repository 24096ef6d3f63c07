"""One discovery session and what is built on it.

- :mod:`.session` — :class:`Session`: data + model + undo history; every user operation
  (train, prune, lock, refine, auto-symbolic, undo) is a method here.
- :mod:`.pipeline` — :func:`~.pipeline.discover`, the one-click pipeline over a session.
- :mod:`.project_file` — save/load a session as a ``.kstudio`` file.

Depends on :mod:`kanstudio.model` and :mod:`kanstudio.data`; used by the worker and the CLI.
"""

from __future__ import annotations

from kanstudio.session.session import FormulaResult, Session, SessionError, SessionSettings

__all__ = ["FormulaResult", "Session", "SessionError", "SessionSettings"]
