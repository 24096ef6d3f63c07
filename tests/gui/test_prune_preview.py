"""Auto-prune's preview is the prune itself, worked out on a copy: the dialog names exactly
the nodes and edges that go, with the held-out loss before and after, and the network view
marks them before the user says Prune."""

from __future__ import annotations

from kanstudio.gui import edit_controller
from tests.gui.conftest import open_and_load, train

WAIT = 60_000


def test_auto_prune_preview_is_what_prune_then_does(qtbot, window, sample, monkeypatch):
    open_and_load(qtbot, window, sample("irrelevant_column"))
    panel = window.training_panel
    panel.width_edit.setText("3, 5, 1")
    panel.lamb.setValue(0.01)
    panel.settings_edited.emit()
    train(qtbot, window, 30)
    seen = {}

    def exec_(dialog):
        # A high edge threshold cuts every edge into some hidden nodes: they go too.
        dialog.node_threshold.setValue(0.0)
        dialog.edge_threshold.setValue(0.1)
        qtbot.waitUntil(lambda: "node(s)" in dialog.preview.text()
                        and "0.1" in str(getattr(dialog, "shown_for", "0.1")), timeout=WAIT)
        seen["text"] = dialog.preview.text()
        seen["marked"] = getattr(window.network_view, "marked_for_removal", None)
        return 1

    monkeypatch.setattr(edit_controller.AutoPruneDialog, "exec", exec_)
    window.state.last_result.pop("prune", None)
    window.edit_actions.auto_prune.trigger()
    qtbot.waitUntil(lambda: "prune" in window.state.last_result, timeout=WAIT)
    result = window.state.last_result["prune"]
    before, after = result["width_before"], result["width_after"]
    nodes = sum(before) - sum(after)
    assert nodes > 0  # this prune removes hidden nodes whose edges were all cut
    assert f"{nodes} node(s) and {len(result['removed_edges'])} edge(s)" in seen["text"]
    assert f"{result['test_rmse_before']:.4g} → {result['test_rmse_after']:.4g}" in (
        seen["text"])
    edges, marked_nodes = seen["marked"]
    assert edges == {tuple(e) for e in result["removed_edges"]}
    assert marked_nodes == {tuple(n) for n in result["removed_nodes"]}
    # The marks go once the dialog is closed.
    assert window.network_view.marked_for_removal == (set(), set())
