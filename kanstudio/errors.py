"""Errors that carry a kind and fields, not only wording.

An :class:`EngineError` says *what* went wrong as data (``kind`` plus ``fields``, all plain
JSON-able values); its message is the engine's own sentence, for scripts, logs and the CLI.
The worker copies kind and fields into its ``error`` event, and the app words them for the
user from one catalogue (``kanstudio.gui.messages``) instead of parsing the sentence.

This module imports nothing, so every layer (and the GUI process, which never loads torch)
can use it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EngineError"]


class EngineError(ValueError):
    """A ValueError with a machine-readable ``kind`` and ``fields``.

    Subclasses set ``kind`` as a class attribute; ``fields`` defaults to empty.
    """

    kind: str = "engine"

    def __init__(self, message: str, *, kind: str | None = None, **fields: Any) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind
        self.fields: dict[str, Any] = dict(fields)
