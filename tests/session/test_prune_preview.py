"""A prune's preview is the prune itself on a copy: same width, same loss, same parts."""

from __future__ import annotations

from pathlib import Path

from kanstudio.data import load_dataset
from kanstudio.session import Session

SAMPLES = Path(__file__).resolve().parents[2] / "sample_datasets"


def test_prune_preview_is_exactly_the_prune_and_changes_nothing():
    session = Session(load_dataset(SAMPLES / "irrelevant_column.csv", target="f"))
    session.new_model([3, 5, 1])
    session.train(steps=30, opt="lbfgs", lamb=0.01)
    before, model, history = session.metrics(), session.model, len(session.history)
    # An edge threshold this high cuts every edge into some hidden nodes: they go too,
    # though their own scores are above the node threshold.
    preview = session.prune_preview(node_threshold=0.0, edge_threshold=0.1)
    assert session.model is model and len(session.history) == history
    assert model.width_ == [3, 5, 1]
    assert session.metrics() == before
    assert preview["removed_nodes"], preview
    info = session.prune(node_threshold=0.0, edge_threshold=0.1)
    assert info == preview
    assert session.model.width_ == preview["width_after"]
    assert sum(preview["width_before"]) - sum(preview["width_after"]) == len(
        preview["removed_nodes"])
    assert session.metrics()["test_rmse"] == preview["test_rmse_after"]
