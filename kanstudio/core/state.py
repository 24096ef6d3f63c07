"""A network as plain data: a JSON-able description plus named numpy arrays, and back.

No pickle anywhere: ``network_from_state`` checks every field's type and every array's
shape and dtype against the description before building anything, so a hand-edited or
hostile state is refused with a :class:`StateError` naming what is wrong.

Version 2 (product nodes): ``width`` is in KAN 2.0 notation (an int or ``[sums, products]``
per level) and ``mult_arity`` lists each level's product-node arities. Version 1 states
(sum nodes only, ``width`` all ints) still load.

Version 3 (node locks): ``node_locks`` lists ``[level, node, name, [input columns]]`` for
every node computed from an expression (:class:`~kanstudio.core.network.NodeLock`). A
network without node locks is still written as version 2, so older apps read it; one
with them is refused by those apps instead of being read without its locks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch

from kanstudio.core.layer import KANLayer, TorchFn
from kanstudio.core.network import MAX_NODE_LOCK_INPUTS, KANNetwork
from kanstudio.core.width import MAX_ARITY, parse_width

__all__ = ["StateError", "network_to_state", "network_from_state", "STATE_VERSION"]

STATE_VERSION = 2  # written when the network has no node locks
NODE_LOCK_VERSION = 3  # written when it has
READABLE_VERSIONS = (1, 2, 3)
MAX_NODES = 4096
MAX_GRID = 1000
_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_ARRAYS = (
    "knots", "coef", "scale_base", "scale_spline", "bias",
    "mask", "symbolic_mask", "symbolic_params", "input_range",
)


class StateError(ValueError):
    """A stored network that cannot be restored; the message says which field is wrong."""


def network_to_state(net: KANNetwork) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(description, arrays). Arrays are named ``layers.<l>.<field>``."""
    dtype = {v: k for k, v in _DTYPES.items()}[net.dtype]
    desc: dict[str, Any] = {
        "state_version": NODE_LOCK_VERSION if net.node_locks else STATE_VERSION,
        "width": net.width_notation,
        "mult_arity": net.architecture.arity_lists(),
        "k": net.k,
        "dtype": dtype,
        "input_ids": list(net.input_ids),
        "n_features_in": net.n_features_in,
        "layers": [],
    }
    arrays: dict[str, np.ndarray] = {}
    for idx, layer in enumerate(net.layers):
        desc["layers"].append({
            "grid_size": layer.grid_size,
            "locked": [[i, j, name] for (i, j), name in sorted(layer.symbolic_names.items())],
        })
        for name in _ARRAYS:
            arrays[f"layers.{idx}.{name}"] = getattr(layer, name).detach().cpu().numpy().copy()
    if net.node_locks:
        desc["node_locks"] = [[level, node, lock.name, list(lock.inputs)]
                              for (level, node), lock in sorted(net.node_locks.items())]
    return desc, arrays


def _int(value: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise StateError(f"{what} must be an integer in [{lo}, {hi}], got {value!r}")
    return value


def _list(value: Any, what: str) -> list:
    if not isinstance(value, list):
        raise StateError(f"{what} must be a list, got {type(value).__name__}")
    return value


def network_from_state(
    desc: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray],
    resolve_function: Callable[[str], TorchFn] | None = None,
    resolve_node_function: Callable[[str, int], TorchFn] | None = None,
) -> KANNetwork:
    """Rebuild a network exactly; ``resolve_function`` maps locked-edge names to torch fns,
    ``resolve_node_function(name, n_inputs)`` a locked node's name to its torch fn."""
    version = _readable_version(desc)
    notation, arity = _architecture(desc, version)
    try:
        arch = parse_width(notation, arity)
    except ValueError as exc:
        raise StateError(f"width: {exc}") from exc
    width = arch.nodes
    columns = arch.columns
    k = _int(desc.get("k"), "k", 0, 10)
    dtype_name = desc.get("dtype")
    if dtype_name not in _DTYPES:
        raise StateError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype_name!r}")
    n_feat, ids = _input_columns(desc, width[0])
    layers = _list(desc.get("layers"), "layers")
    if len(layers) != len(width) - 1:
        raise StateError(f"{len(layers)} layers described for width {width}")
    dtype = _DTYPES[dtype_name]
    # Check every layer's arrays against the description before allocating anything, so a
    # few bytes of JSON declaring a huge architecture cannot exhaust memory.
    checked = [_layer_values(idx, ldesc, width[idx], columns[idx + 1], k, arrays, dtype)
               for idx, ldesc in enumerate(layers)]
    net = KANNetwork(notation, grid_size=1, k=k, dtype=dtype, input_ids=ids,
                     n_features_in=n_feat, mult_arity=arity)
    for idx, (layer, ldesc, (g, values)) in enumerate(
        zip(net.layers, layers, checked, strict=True)
    ):
        _fill_layer(layer, g, values)
        _lock_edges(layer, idx, ldesc, width[idx], columns[idx + 1], resolve_function)
    if version == NODE_LOCK_VERSION:
        _lock_nodes(net, desc.get("node_locks"), resolve_node_function)
    return net


def _lock_nodes(net: KANNetwork, entries: Any,
                resolve: Callable[[str, int], TorchFn] | None) -> None:
    """Register the stored node locks: ``[level, node, name, [input columns]]`` each."""
    entries = _list(entries, "node_locks")
    if entries and resolve is None:
        raise StateError("the network has locked nodes but no expression reader was given")
    for entry in entries:
        if not (isinstance(entry, list) and len(entry) == 4 and isinstance(entry[2], str)):
            raise StateError("a locked node must be [level, node, name, [inputs]]")
        level = _int(entry[0], "locked node level", 1, len(net.width) - 1)
        node = _int(entry[1], "locked node", 0, net.width[level] - 1)
        inputs = [_int(c, "locked node input", 0, net.n_features_in - 1)
                  for c in _list(entry[3], "locked node inputs")]
        if not 1 <= len(inputs) <= MAX_NODE_LOCK_INPUTS:
            raise StateError(f"node ({level}, {node}): 1 to {MAX_NODE_LOCK_INPUTS} inputs")
        try:
            fn = resolve(entry[2], len(inputs))  # type: ignore[misc]
            net.lock_node(level, node, entry[2], inputs, fn)
        except (KeyError, ValueError) as exc:
            raise StateError(f"node ({level}, {node}) cannot be locked: {exc}") from exc


def _readable_version(desc: Any) -> Any:
    """The description's state version, if this app reads it."""
    if not isinstance(desc, Mapping):
        raise StateError("network description must be an object")
    version = desc.get("state_version")
    if version not in READABLE_VERSIONS:
        raise StateError(
            f"network state version {version!r} is not supported (this app reads "
            f"{', '.join(map(str, READABLE_VERSIONS))})"
        )
    return version


def _input_columns(desc: Mapping[str, Any], n_inputs: int) -> tuple[int, list[int]]:
    """(n_features_in, input_ids): the data's column count and the distinct columns used."""
    n_feat = _int(desc.get("n_features_in"), "n_features_in", 1, 10**6)
    ids = [_int(i, "input id", 0, n_feat - 1) for i in _list(desc.get("input_ids"), "input_ids")]
    if len(ids) != n_inputs or len(set(ids)) != len(ids):
        raise StateError("input_ids must list width[0] distinct columns")
    return n_feat, ids


def _fill_layer(layer: KANLayer, grid_size: int, values: Mapping[str, torch.Tensor]) -> None:
    """Put a layer's checked arrays in place of its freshly built ones."""
    layer.grid_size = grid_size
    layer.knots = values["knots"]
    layer.coef = torch.nn.Parameter(values["coef"])
    for name in ("scale_base", "scale_spline", "bias", "symbolic_params"):
        getattr(layer, name).data = values[name]
    for name in ("mask", "symbolic_mask", "input_range"):
        setattr(layer, name, values[name])


def _lock_edges(layer: KANLayer, idx: int, ldesc: Mapping[str, Any], n_in: int, n_out: int,
                resolve_function: Callable[[str], TorchFn] | None) -> None:
    """Register layer ``idx``'s locked edges; they must match its symbolic mask."""
    locked = _list(ldesc.get("locked", []), f"layer {idx} locked")
    if locked and resolve_function is None:
        raise StateError("the network has locked edges but no function library was given")
    for entry in locked:
        if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[2], str)):
            raise StateError(f"layer {idx}: a locked edge must be [i, j, name]")
        i = _int(entry[0], "locked edge i", 0, n_in - 1)
        j = _int(entry[1], "locked edge j", 0, n_out - 1)
        try:
            fn = resolve_function(entry[2])  # type: ignore[misc]
        except KeyError as exc:
            raise StateError(
                f"unknown function {entry[2][:60]!r} on edge ({idx}, {i}, {j})"
            ) from exc
        except ValueError as exc:  # e.g. a stored expression that is refused: say why
            raise StateError(f"edge ({idx}, {i}, {j}) cannot be locked: {exc}") from exc
        layer.register_function(entry[2], fn)
        layer.symbolic_names[(i, j)] = entry[2]
    if set(layer.symbolic_names) != {
        tuple(e) for e in layer.symbolic_mask.nonzero().tolist()
    }:
        raise StateError(f"layer {idx}: locked edges do not match the symbolic mask")


def _architecture(desc: Mapping[str, Any], version: Any) -> tuple[list, list]:
    """(width notation, per-level arities) from a description, sizes checked."""
    raw = _list(desc.get("width"), "width")
    if not 2 <= len(raw) <= 64:
        raise StateError(f"width must have 2 to 64 levels, got {len(raw)}")
    if version == 1:
        return [_int(w, "width entry", 1, MAX_NODES) for w in raw], [[] for _ in raw]
    notation: list = []
    for w in raw:
        if isinstance(w, list):
            if len(w) != 2:
                raise StateError(f"width entry {w!r} must be an int or [sums, products]")
            notation.append([_int(w[0], "sum nodes", 0, MAX_NODES),
                             _int(w[1], "product nodes", 0, MAX_NODES)])
        else:
            notation.append(_int(w, "width entry", 1, MAX_NODES))
    arity = _list(desc.get("mult_arity"), "mult_arity")
    if len(arity) != len(raw):
        raise StateError("mult_arity must list one entry per level")
    arity = [[_int(a, "mult_arity", 2, MAX_ARITY) for a in _list(level, "mult_arity entry")]
             for level in arity]
    return notation, arity


def _layer_values(
    idx: int, ldesc: Any, n_in: int, n_out: int, k: int, arrays: Mapping[str, np.ndarray],
    dtype: torch.dtype,
) -> tuple[int, dict[str, torch.Tensor]]:
    """Layer ``idx``'s grid size and arrays (as tensors), checked against the description;
    ``n_out`` counts the layer's edge columns (sub-nodes)."""
    if not isinstance(ldesc, Mapping):
        raise StateError(f"layer {idx} must be an object")
    g = _int(ldesc.get("grid_size"), f"layer {idx} grid_size", 1, MAX_GRID)
    nb = g + k
    shapes = {
        "knots": (n_in, g + 2 * k + 1), "coef": (n_in, nb, n_out),
        "scale_base": (n_in, n_out), "scale_spline": (n_in, n_out), "bias": (n_out,),
        "mask": (n_in, n_out), "symbolic_mask": (n_in, n_out),
        "symbolic_params": (n_in, n_out, 4), "input_range": (n_in, 2),
    }
    values = {}
    for name, shape in shapes.items():
        key = f"layers.{idx}.{name}"
        arr = arrays.get(key)
        if not isinstance(arr, np.ndarray):
            raise StateError(f"array {key} is missing")
        if arr.dtype.kind != "f" or tuple(arr.shape) != shape:
            raise StateError(f"array {key} must be float {shape}, got {arr.dtype} {arr.shape}")
        if not np.isfinite(arr).all():
            raise StateError(f"array {key} contains NaN or infinite values")
        values[name] = torch.tensor(arr, dtype=dtype)  # a copy: never alias the caller
    if not bool((values["knots"][:, 1:] >= values["knots"][:, :-1]).all()):
        raise StateError(f"layer {idx} knots must be non-decreasing")
    for name in ("mask", "symbolic_mask"):  # an edge is kept or not, locked or not
        bad = values[name][(values[name] != 0) & (values[name] != 1)]
        if bad.numel():
            raise StateError(f"array layers.{idx}.{name} must hold only 0 and 1, "
                             f"not {bad[0].item():.4g}")
    return g, values
