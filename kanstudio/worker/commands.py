"""Worker commands: one frozen dataclass per command, checked field by field on arrival.

:func:`parse_command` turns a received wire dict (``{"cmd": NAME, ...fields}``) into its
command, refusing an unknown name, a missing or unknown field, or a value of the wrong type
with a :class:`ProtocolError` (kind ``unknown_command``, ``bad_command`` or ``bad_field``).
The protocol as a whole is described in :mod:`kanstudio.worker.protocol`.
"""

from __future__ import annotations

import dataclasses
import numbers
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from kanstudio.defaults import EDGE_THRESHOLD, NODE_THRESHOLD
from kanstudio.errors import EngineError

__all__ = [
    "Command", "ProtocolError", "COMMAND_TYPES", "parse_command", "command",
    "Load", "SetSettings", "NewModel", "Train", "Step", "Pause", "Resume", "Stop",
    "Discover", "TakeSnapshot", "Shutdown", "Prune", "PrunePreview", "PruneNode", "PruneEdge",
    "Refine",
    "Suggest", "Lock", "Unlock", "AutoSymbolic", "Undo", "Redo", "Formula", "Save",
    "OpenProject", "Inspect", "UseFormula", "LiveLabels", "SearchEdge", "AdoptProject",
    "SearchNode", "LockNode", "UnlockNode", "InspectNode",
]


class ProtocolError(EngineError):
    """A command that does not fit the protocol (kind ``unknown_command``, ``bad_command``
    or ``bad_field``; fields say which command and field)."""

    kind = "bad_command"


def _missing(message: str) -> Any:
    """A required field, with the sentence that says what to send when it is missing."""
    return field(metadata={"missing": message})


@dataclass(frozen=True, kw_only=True)
class Command:
    """Base of every command; ``id`` comes back as the ``reply_to`` of its answers."""

    name: ClassVar[str]
    id: Any = None

    def to_wire(self) -> dict[str, Any]:
        fields = {_wire_name(f): getattr(self, f.name) for f in dataclasses.fields(self)}
        if fields.get("id") is None:
            fields.pop("id")
        return {"cmd": self.name, **fields}


@dataclass(frozen=True, kw_only=True)
class _Edge(Command):
    """A command about one edge ``(layer, i, j)`` (design.md §4.2)."""

    layer: int = _missing("an edge needs 'layer', 'i' and 'j'")
    i: int = _missing("an edge needs 'layer', 'i' and 'j'")
    j: int = _missing("an edge needs 'layer', 'i' and 'j'")

    @property
    def edge(self) -> tuple[int, int, int]:
        return self.layer, self.i, self.j


@dataclass(frozen=True, kw_only=True)
class _Node(Command):
    """A command about one node ``(layer, node)``: ``layer`` is its level (0 = inputs),
    as for ``prune_node``."""

    layer: int = _missing("a node needs 'layer' (its level) and 'node'")
    node: int = _missing("a node needs 'layer' (its level) and 'node'")

    @property
    def address(self) -> tuple[int, int]:
        return self.layer, self.node


@dataclass(frozen=True, kw_only=True)
class Load(Command):
    """Read a CSV and start a session on it."""

    name = "load"
    path: str = _missing("load needs a 'path' to a CSV file")
    target: str | list[str] | None = None
    inputs: list[str] | None = None
    drop_missing: bool = False
    drop_non_numeric: bool = False


@dataclass(frozen=True, kw_only=True)
class SetSettings(Command):
    """Change :class:`kanstudio.session.SessionSettings` fields (the rest stay)."""

    name = "set_settings"
    settings: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class NewModel(Command):
    """A fresh, untrained model (``width`` None: the default for the data)."""

    name = "new_model"
    # KAN 2.0 notation: an int or [sums, products] per level, or its text form "2,0+1,1";
    # checked and normalised by the handler (width_field), where the engine's rules live
    width: list[int | list[int]] | str | None = None
    settings: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class Train(Command):
    """Start a training run (fields left None come from the settings)."""

    name = "train"
    steps: int | None = None
    opt: str | None = None
    lr: float | None = None
    lamb: float | None = None
    batch_size: int | None = None
    update_grid: bool | None = None  # False: the knots stay (a fine-tune)

    def overrides(self) -> dict[str, Any]:
        """The fields :meth:`Session.train_iter` takes as overrides, where given."""
        return {k: getattr(self, k) for k in ("opt", "lr", "lamb", "batch_size", "update_grid")
                if getattr(self, k) is not None}


@dataclass(frozen=True, kw_only=True)
class Step(Train):
    """Exactly one step (starts a paused run with ``train``'s fields when idle)."""

    name = "step"


@dataclass(frozen=True, kw_only=True)
class Pause(Command):
    name = "pause"


@dataclass(frozen=True, kw_only=True)
class Resume(Command):
    name = "resume"


@dataclass(frozen=True, kw_only=True)
class Stop(Command):
    """End the current run between two steps (an edit run is cancelled: no change)."""

    name = "stop"


@dataclass(frozen=True, kw_only=True)
class Discover(Command):
    """The one-click pipeline; ``settings``: PipelineSettings fields."""

    name = "discover"
    settings: dict[str, Any] | None = None


@dataclass(frozen=True, kw_only=True)
class TakeSnapshot(Command):
    """Send a fresh snapshot now."""

    name = "snapshot"


@dataclass(frozen=True, kw_only=True)
class Shutdown(Command):
    name = "shutdown"


@dataclass(frozen=True, kw_only=True)
class Prune(Command):
    name = "prune"
    node_threshold: float = NODE_THRESHOLD
    edge_threshold: float = EDGE_THRESHOLD


@dataclass(frozen=True, kw_only=True)
class PrunePreview(Command):
    """What ``prune`` with these thresholds would remove, and the held-out loss before and
    after; the model is unchanged."""

    name = "prune_preview"
    node_threshold: float = NODE_THRESHOLD
    edge_threshold: float = EDGE_THRESHOLD


@dataclass(frozen=True, kw_only=True)
class PruneNode(Command):
    name = "prune_node"
    layer: int = _missing("prune_node needs 'layer' and 'i'")
    i: int = _missing("prune_node needs 'layer' and 'i'")


@dataclass(frozen=True, kw_only=True)
class PruneEdge(_Edge):
    name = "prune_edge"


@dataclass(frozen=True, kw_only=True)
class Refine(Command):
    """A finer grid, one layer per step (``stop`` cancels: no change)."""

    name = "refine"
    grid: int = _missing("refine needs the new 'grid' size")


@dataclass(frozen=True, kw_only=True)
class Suggest(_Edge):
    name = "suggest"
    top_k: int | None = None


@dataclass(frozen=True, kw_only=True)
class Lock(_Edge):
    name = "lock"
    function: str = field(metadata={
        "wire": "name", "missing": "lock needs the 'name' of a library function, e.g. 'sin'"})


@dataclass(frozen=True, kw_only=True)
class Unlock(_Edge):
    name = "unlock"


@dataclass(frozen=True, kw_only=True)
class AutoSymbolic(Command):
    """Fit and lock functions edge by edge (``stop`` cancels: no change)."""

    name = "auto_symbolic"
    r2_threshold: float | None = None
    lock_all: bool = False


@dataclass(frozen=True, kw_only=True)
class Undo(Command):
    name = "undo"


@dataclass(frozen=True, kw_only=True)
class Redo(Command):
    name = "redo"


@dataclass(frozen=True, kw_only=True)
class Formula(Command):
    name = "formula"
    numeric: Literal["error", "placeholder"] = "error"


@dataclass(frozen=True, kw_only=True)
class Save(Command):
    name = "save"
    path: str = _missing("save needs a 'path' for the .kstudio file")


@dataclass(frozen=True, kw_only=True)
class OpenProject(Command):
    name = "open_project"
    path: str = _missing("open_project needs a 'path' to a .kstudio file")
    device: str | None = None


@dataclass(frozen=True, kw_only=True)
class AdoptProject(Command):
    """Take the model of a project saved from the same data (a seed of a sweep) as one
    undo step, with the settings, split and scaling it was trained with."""

    name = "adopt_project"
    path: str = _missing("adopt_project needs a 'path' to a .kstudio file")
    what: str = ""  # how the undo step and the history name it


@dataclass(frozen=True, kw_only=True)
class Inspect(_Edge):
    """The data the edge sees, its inner knots, importance score and lock."""

    name = "inspect"


@dataclass(frozen=True, kw_only=True)
class UseFormula(Command):
    """Make formula ``index`` of Discover's front the model's (one undo step)."""

    name = "use_formula"
    index: int = _missing("use_formula needs the 'index' of a formula in the front")


@dataclass(frozen=True, kw_only=True)
class LiveLabels(Command):
    """Name each edge's best-fitting function in the snapshots (on at start), or stop."""

    name = "live_labels"
    enabled: bool = _missing("live_labels needs 'enabled': true or false")


@dataclass(frozen=True, kw_only=True)
class SearchEdge(_Edge):
    """Search expressions for the edge's curve with the symbolic search engine, in steps
    (``edit_progress`` per chunk of generations; ``stop`` cancels). The ``result`` lists
    the front as candidates whose ``name`` ``lock`` accepts. ``budget``: a named work size
    ("small", "medium", "large")."""

    name = "search_edge"
    budget: Literal["small", "medium", "large"] = "small"


@dataclass(frozen=True, kw_only=True)
class SearchNode(_Node):
    """Search expressions for the node's value as a function of the 1-3 network inputs it
    depends on, in steps like ``search_edge``; the ``result``'s candidates carry the
    ``name`` and ``inputs`` that ``lock_node`` accepts."""

    name = "search_node"
    budget: Literal["small", "medium", "large"] = "small"


@dataclass(frozen=True, kw_only=True)
class LockNode(_Node):
    """Compute the node from an expression of network inputs (a node lock name;
    ``inputs``: the input columns its variables stand for, default those the node
    depends on). One undo step."""

    name = "lock_node"
    function: str = field(metadata={
        "wire": "name", "missing": "lock_node needs the 'name' of a searched expression"})
    inputs: list[int] | None = None


@dataclass(frozen=True, kw_only=True)
class UnlockNode(_Node):
    name = "unlock_node"


@dataclass(frozen=True, kw_only=True)
class InspectNode(_Node):
    """What the inspector shows for a node: the inputs it depends on, its lock."""

    name = "inspect_node"


COMMAND_TYPES: dict[str, type[Command]] = {c.name: c for c in (
    Load, SetSettings, NewModel, Train, Step, Pause, Resume, Stop, Discover, TakeSnapshot,
    Shutdown, Prune, PrunePreview, PruneNode, PruneEdge, Refine, Suggest, Lock, Unlock,
    AutoSymbolic, Undo, Redo, Formula, Save, OpenProject, Inspect, UseFormula, LiveLabels,
    SearchEdge, AdoptProject, SearchNode, LockNode, UnlockNode, InspectNode)}


def _wire_name(f: dataclasses.Field) -> str:
    return f.metadata.get("wire", f.name)


def _conform(value: Any, hint: Any) -> Any:
    """``value`` as of type ``hint`` (ints widen to float); TypeError when it is not."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _conform(value, option)
            except TypeError:
                continue
        raise TypeError
    if origin is Literal:
        if value in typing.get_args(hint):
            return value
        raise TypeError
    if hint is type(None):
        if value is None:
            return None
        raise TypeError
    if isinstance(value, bool) and hint is not bool:
        raise TypeError  # True is an int to Python, never a number to us
    if hint is bool and isinstance(value, bool):
        return value
    if hint is int and isinstance(value, numbers.Integral):
        return int(value)
    if hint is float and isinstance(value, numbers.Real):
        return float(value)
    if hint is str and isinstance(value, str):
        return value
    if origin is list and isinstance(value, (list, tuple)):
        (item,) = typing.get_args(hint)
        return [_conform(v, item) for v in value]
    if origin is dict and isinstance(value, dict):
        return dict(value)
    raise TypeError


def _type_words(hint: Any) -> str:
    """'an integer', 'a number or None', ... for a refusal."""
    words = {int: "an integer", float: "a number", bool: "true or false", str: "a string",
             type(None): "None"}
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_words(a) for a in typing.get_args(hint))
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(hint))
    if origin is list:
        return f"a list of {_type_words(typing.get_args(hint)[0]).split(' ', 1)[-1]}s"
    if origin is dict:
        return "a dict"
    return words.get(hint, str(hint))


def parse_command(raw: Any) -> Command:
    """The command a wire dict holds, checked field by field (:class:`ProtocolError`)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("cmd"), str):
        raise ProtocolError(f"a command must be a dict with a 'cmd' name, got {raw!r}",
                            kind="bad_command")
    name = raw["cmd"]
    kind = COMMAND_TYPES.get(name)
    if kind is None:
        raise ProtocolError(f"unknown command '{name}'", kind="unknown_command", command=name)
    hints = typing.get_type_hints(kind)
    given = {k: v for k, v in raw.items() if k != "cmd"}
    values: dict[str, Any] = {}
    for f in dataclasses.fields(kind):
        key = _wire_name(f)
        if key not in given:
            if "missing" in f.metadata:
                raise ProtocolError(f.metadata["missing"], kind="bad_field", command=name,
                                    field=key)
            continue
        value = given.pop(key)
        try:
            values[f.name] = _conform(value, hints[f.name])
        except TypeError:
            raise ProtocolError(f"'{key}' must be {_type_words(hints[f.name])}, got {value!r}",
                                kind="bad_field", command=name, field=key) from None
        if "missing" in f.metadata and values[f.name] in ("", None):
            raise ProtocolError(f.metadata["missing"], kind="bad_field", command=name,
                                field=key)
    if given:
        unknown = sorted(given)[0]
        raise ProtocolError(f"'{name}' has no field '{unknown}'", kind="bad_field",
                            command=name, field=unknown)
    return kind(**values)


def command(name: str, /, **fields: Any) -> Command:
    """Build and check a command by its wire name: ``command("lock", layer=0, ...)``."""
    return parse_command({"cmd": name, **fields})
