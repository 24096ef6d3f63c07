"""The window's application state: typed fields that say when they change.

The idea is napari's evented model, in a few lines of our own: an :class:`EventedModel`
declares its fields with :class:`Field`; setting a field to a different value emits
:attr:`EventedModel.changed` with the field's name, and :meth:`EventedModel.observe` calls a
function whenever one of the named fields changes. Panels and controllers read the state
and subscribe to it; none keeps a second copy of it.

:class:`AppState` is the one such object of the main window: what the engine reported
(:class:`EngineState`, from its ``state`` events), which data or project is open, whether
the work is saved, and the latest events views draw from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QObject, Signal

__all__ = ["EventedModel", "Field", "AppState", "EngineState"]

T = TypeVar("T")


class Field(Generic[T]):
    """A typed field of an :class:`EventedModel` with a default (made fresh per object)."""

    def __init__(self, default: Callable[[], T]) -> None:
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> T:
        if obj is None:
            return self  # type: ignore[return-value] - the descriptor, on the class
        return obj.values[self.name]

    def __set__(self, obj: Any, value: T) -> None:
        old = obj.values[self.name]
        obj.values[self.name] = value
        if not _same(old, value):
            obj.changed.emit(self.name)


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # e.g. dicts holding numpy arrays: compare by identity
        return False


class EventedModel(QObject):
    """Holds its :class:`Field` values; ``changed(name)`` after each real change."""

    changed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.values: dict[str, Any] = {
            f.name: f.default() for klass in reversed(type(self).__mro__)
            for f in vars(klass).values() if isinstance(f, Field)}

    def update(self, **values: Any) -> None:
        """Set several fields (unknown names refused); each change is announced."""
        for name, value in values.items():
            if name not in self.values:
                raise AttributeError(f"{type(self).__name__} has no field '{name}'")
            setattr(self, name, value)

    def observe(self, names: str | tuple[str, ...], callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever one of the fields ``names`` changes."""
        wanted = (names,) if isinstance(names, str) else names
        for name in wanted:
            if name not in self.values:
                raise AttributeError(f"{type(self).__name__} has no field '{name}'")
        self.changed.connect(lambda name: callback() if name in wanted else None)


@dataclass(frozen=True)
class EngineState:
    """What the worker's latest ``state`` event said (all False/empty before the first)."""

    has_data: bool = False
    has_model: bool = False
    fitted: bool = False
    training: bool = False
    discovering: bool = False
    editing: str | None = None  # "refine" | "auto_symbolic" while one runs
    paused: bool = False
    run_step: int = 0
    run_steps: int = 0
    step: int = 0
    model: dict[str, Any] | None = None  # width, grid, k, fitted, input_names, target_names
    can_undo: bool = False
    can_redo: bool = False
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_event(cls, e: dict[str, Any]) -> EngineState:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in e.items() if k in known})

    def but(self, **changes: Any) -> EngineState:
        """A copy with ``changes`` (what a command is expected to lead to)."""
        return EngineState(**{**{f.name: getattr(self, f.name) for f in fields(self)},
                              **changes})

    @property
    def busy(self) -> bool:
        """A training run, Discover or a refine/auto-symbolic edit is going (Stop ends or
        cancels it; the model cannot be edited meanwhile)."""
        return bool(self.training or self.discovering or self.editing)

    @property
    def width(self) -> list[int]:
        return list((self.model or {}).get("width") or [])


class AppState(EventedModel):
    """The main window's state; panels and controllers observe it."""

    engine = Field[EngineState](EngineState)
    data_ok = Field[bool](lambda: False)  # the Data panel's columns can be trained on
    current_path = Field["str | None"](lambda: None)  # the open CSV
    current_project = Field["str | None"](lambda: None)  # the open .kstudio project
    pending_project = Field["str | None"](lambda: None)  # asked to open, not opened yet
    built_arch = Field["dict[str, Any] | None"](lambda: None)  # settings the model was built with
    dirty = Field[bool](lambda: False)  # the model has changes not saved in a project
    last_snapshot = Field["dict[str, Any] | None"](lambda: None)
    last_done = Field["dict[str, Any] | None"](lambda: None)  # the last training run's end
    last_pipeline = Field["dict[str, Any] | None"](lambda: None)
    # the latest result of each command (by command name); filled in place, not announced
    last_result = Field["dict[str, dict[str, Any]]"](dict)
