"""The registry of search engines: which one runs for a name (only Operon so far).

Apart from :mod:`.engine` (the interface every engine implements) so that an engine module
imports the interface without the interface importing the engines back.
"""

from __future__ import annotations

from kanstudio.symbolic.search.engine import SearchEngine
from kanstudio.symbolic.search.operon import OperonEngine

__all__ = ["get_engine"]


def get_engine(name: str = "auto") -> SearchEngine:
    """The engine called ``name`` ("auto": the first available, today only "operon").

    Raises :class:`EngineUnavailableError` when it cannot run here.
    """
    engines: dict[str, SearchEngine] = {"operon": OperonEngine()}
    if name == "auto":
        name = "operon"
    if name not in engines:
        raise ValueError(f"unknown search engine {name!r}; known: {sorted(engines)}")
    engine = engines[name]
    if not engine.available():
        raise engine.unavailable_error()
    return engine
