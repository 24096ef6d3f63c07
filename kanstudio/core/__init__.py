"""The KAN itself: B-spline layers, the network, training, grids, pruning (torch + numpy)."""

from kanstudio.core.device import available_devices, resolve_device, resolve_dtype
from kanstudio.core.layer import KANLayer
from kanstudio.core.network import (
    MAX_NODE_LOCK_INPUTS,
    Activations,
    EdgeCurves,
    KANNetwork,
    NodeLock,
)
from kanstudio.core.pruning import (
    PruneReport,
    prune,
    prune_edge,
    prune_node,
    prune_with_report,
    subnetwork,
)
from kanstudio.core.spline import fit_coefficients, spline_basis, uniform_knots
from kanstudio.core.state import StateError, network_from_state, network_to_state
from kanstudio.core.training import STEP_EVENTS, StepRecord, TrainSettings, train_steps
from kanstudio.core.width import Architecture, format_width, parse_width, parse_width_text

__all__ = [
    "Architecture", "format_width", "parse_width", "parse_width_text",
    "Activations", "EdgeCurves", "KANLayer", "KANNetwork", "MAX_NODE_LOCK_INPUTS", "NodeLock",
    "STEP_EVENTS", "StateError",
    "StepRecord",
    "TrainSettings", "available_devices", "fit_coefficients", "network_from_state",
    "network_to_state", "prune", "prune_edge", "prune_node", "prune_with_report",
    "PruneReport", "resolve_device",
    "resolve_dtype", "spline_basis", "subnetwork", "train_steps", "uniform_knots",
]
