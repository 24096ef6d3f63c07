"""Defaults that several layers share, defined once (the API, the session, the pipeline, the
worker and the GUI import them from here). Plain Python: the GUI process imports it without
torch."""

from __future__ import annotations

__all__ = ["NODE_THRESHOLD", "EDGE_THRESHOLD", "MAX_DEFAULT_HIDDEN", "FINE_TUNE_STEPS",
           "default_width"]

#: Pruning: a node whose attribution score is below this is removed (scores are relative:
#: the largest node of a layer scores about 1).
NODE_THRESHOLD = 1e-2
#: Pruning: an edge whose attribution score is below this is removed.
EDGE_THRESHOLD = 3e-2
#: The default hidden layer has 2n+1 nodes (the Kolmogorov-Arnold count) but no more than
#: this: past it, training time grows while pruning removes the extra nodes anyway.
MAX_DEFAULT_HIDDEN = 9
#: Fine-tune (of a model with locked edges, in discovery or from the Model menu): this many
#: L-BFGS steps without sparsity or grid updates. The symbolic parameters are few and start
#: from a fit to the curve, so a fine-tune converges in a few steps; the training Steps
#: value (hundreds or thousands) is for learning the curves themselves.
FINE_TUNE_STEPS = 30


def default_width(n_in: int, n_out: int) -> list[int]:
    """The architecture used when the user gives none: ``[n_in, min(2 n_in + 1, 9), n_out]``."""
    return [n_in, min(2 * n_in + 1, MAX_DEFAULT_HIDDEN), n_out]
