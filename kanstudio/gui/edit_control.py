"""The window's side of editing: inspector, prune, lock, auto-symbolic, undo, formula.

Mixed into :class:`~kanstudio.gui.main_window.MainWindow` after
:class:`~kanstudio.gui.session_control.SessionControl`. Every edit is a worker command; the
worker answers with a ``result`` (handled here), then a fresh snapshot and state.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QInputDialog

from kanstudio.gui.edit_dialogs import AutoPruneDialog, AutoSymbolicDialog, describe_auto_symbolic
from kanstudio.gui.messages import error_text, is_notice

__all__ = ["EditControl", "MODEL_EDITS"]

# Results that change the model: the formula is rebuilt and the project becomes unsaved.
MODEL_EDITS = ("prune", "prune_node", "prune_edge", "refine", "lock", "unlock",
               "auto_symbolic", "undo", "redo", "discover")


class EditControl:
    def __init__(self) -> None:
        self.last_result: dict[str, dict[str, Any]] = {}
        self.last_snapshot: dict[str, Any] | None = None
        self.last_pipeline: dict[str, Any] | None = None
        self.dirty = False
        self._formula_wanted_by_user = False
        self.bridge.result.connect(self._on_result)
        self.bridge.snapshot.connect(self._keep_snapshot)
        self.bridge.done.connect(self._after_training)
        self.bridge.pipeline.connect(self._on_pipeline)
        self.bridge.edit_progress.connect(self._on_edit_progress)
        self._announce_formula = False  # Discover ended: say its formula when it arrives
        self.network_view.edge_selected.connect(self.inspect_edge)
        self.network_view.node_selected.connect(self._on_node_selected)
        self.network_view.context_requested.connect(self._context_menu)
        ins = self.inspector
        ins.lock_requested.connect(self.lock_edge)
        ins.unlock_requested.connect(self.unlock_edge)
        ins.prune_requested.connect(self.prune_edge)
        ins.functions_changed.connect(self._set_functions)
        self.formula_panel.refresh_requested.connect(self.request_formula_by_user)
        self._update_edit_actions()

    # ------------------------------------------------------------------ helpers
    @property
    def fitted(self) -> bool:
        return bool(self.worker_state.get("fitted"))

    def _edit(self, command: str, **fields: Any) -> bool:
        """Send a model edit, unless there is no trained model to edit (or a refine or
        auto-symbolic run is still going: an edit would silently cancel it)."""
        if not self.fitted:
            self.show_error("Train a model first: there is nothing to edit yet.")
            return False
        if self.worker_state.get("editing"):
            self.show_error("A refine or auto-symbolic run is still going: wait for it or "
                            "press Cancel first.")
            return False
        self.bridge.send(command, **fields)
        return True

    def _keep_snapshot(self, snap: dict[str, Any]) -> None:
        self.last_snapshot = snap

    def _update_edit_actions(self) -> None:
        a, state = self.edit_actions, self.worker_state
        a.undo.setEnabled(bool(state.get("can_undo")) and not self.training)
        a.redo.setEnabled(bool(state.get("can_redo")) and not self.training)
        for action in (a.auto_prune, a.refine, a.auto_symbolic, a.fine_tune, a.formula,
                       a.delete):
            action.setEnabled(self.fitted and not self.training)
        a.discover.setEnabled(bool(state.get("has_data")) and not self.training)
        a.save.setEnabled(bool(state.get("has_data")))
        a.save_as.setEnabled(bool(state.get("has_data")))

    # ------------------------------------------------------------------ inspector
    def inspect_edge(self, layer: int, i: int, j: int, raise_dock: bool = True) -> None:
        if not self.fitted:
            self.statusBar().showMessage("Train the model first: an untrained edge has no "
                                         "data to inspect yet.", 6000)
            return
        if raise_dock:  # a click on an edge; a refresh after an edit leaves the tabs alone
            self.inspector_dock.show()
            self.inspector_dock.raise_()
        self.bridge.send("inspect", layer=layer, i=i, j=j)
        self.bridge.send("suggest", layer=layer, i=i, j=j)

    def lock_edge(self, layer: int, i: int, j: int, name: str) -> None:
        self._edit("lock", layer=layer, i=i, j=j, name=name)

    def unlock_edge(self, layer: int, i: int, j: int) -> None:
        self._edit("unlock", layer=layer, i=i, j=j)

    def prune_edge(self, layer: int, i: int, j: int) -> None:
        self._edit("prune_edge", layer=layer, i=i, j=j)

    def delete_selected(self) -> None:
        """Delete: prune the selected node or edge."""
        view = self.network_view
        if view.selected_node is not None:
            self.prune_node(*view.selected_node)
        elif view.selected is not None:
            self.prune_edge(*view.selected)
        else:
            self.statusBar().showMessage("Select a node or an edge first (click it), then "
                                         "press Delete.", 5000)

    def prune_node(self, level: int, i: int) -> None:
        width = (self.worker_state.get("model") or {}).get("width") or []
        if level >= len(width) - 1:
            self.show_error("Output nodes cannot be pruned: they are what the model predicts.")
            return
        self._edit("prune_node", layer=level, i=i)

    def _on_node_selected(self, level: int, i: int) -> None:
        names = (self.worker_state.get("model") or {}).get("input_names") or []
        name = names[i] if level == 0 and i < len(names) else f"node {i} of level {level}"
        self.statusBar().showMessage(f"Selected {name}: Delete (or right-click) prunes it.",
                                     8000)

    def _context_menu(self, what: Any, pos: Any) -> None:
        from PySide6.QtWidgets import QMenu

        kind, address = what
        if address is None or not self.fitted or self.training:
            return
        menu = QMenu(self)
        if kind == "node":
            menu.addAction("Prune Node", lambda: self.prune_node(*address))
        else:
            menu.addAction("Inspect Edge", lambda: self.inspect_edge(*address))
            menu.addAction("Prune Edge", lambda: self.prune_edge(*address))
            if self.inspector.edge == tuple(address) and self.inspector.locked:
                menu.addAction("Unlock Edge", lambda: self.unlock_edge(*address))
        self.context_menu = menu
        menu.popup(pos)

    def _set_functions(self, names: list[str] | None) -> None:
        self.bridge.send("set_settings", settings={"functions": names})
        if self.inspector.edge is not None:
            self.bridge.send("suggest", **dict(zip(("layer", "i", "j"), self.inspector.edge,
                                                   strict=True)))

    def _refresh_inspector(self) -> None:
        edge = self.inspector.edge
        if edge is None:
            return
        width = (self.worker_state.get("model") or {}).get("width") or []
        layer, i, j = edge
        if layer + 1 < len(width) and i < width[layer] and j < width[layer + 1]:
            self.inspect_edge(layer, i, j, raise_dock=False)
        else:
            self.inspector.clear()

    # ------------------------------------------------------------------ model menu
    def undo(self) -> None:
        if self.worker_state.get("can_undo") and not self.training:
            self.bridge.send("undo")

    def redo(self) -> None:
        if self.worker_state.get("can_redo") and not self.training:
            self.bridge.send("redo")

    def auto_prune(self) -> None:
        if not self.fitted:
            return
        dialog = AutoPruneDialog(self.last_snapshot, self)
        if dialog.exec():
            self._edit("prune", **dialog.thresholds())

    def refine_grid(self) -> None:
        grid = int((self.worker_state.get("model") or {}).get("grid", 5))
        value, ok = QInputDialog.getInt(self, "Refine Grid", f"New grid size (now {grid}):",
                                        min(grid * 2, 200), grid + 1, 200)
        if ok and self._edit("refine", grid=value):
            self._task_started("refine", f"Refining the grid to {value}…")

    def auto_symbolic(self) -> None:
        if not self.fitted:
            return
        settings = self.worker_state.get("settings") or {}
        dialog = AutoSymbolicDialog(settings, self)
        if dialog.exec():
            fields = dialog.values()
            self.bridge.send("set_settings",
                             settings={"simplicity_weight": fields.pop("simplicity_weight")})
            if self._edit("auto_symbolic", **fields):
                self._task_started("auto_symbolic", "Auto-symbolic: fitting functions to "
                                   "the edges…")

    # ------------------------------------------------------------------ long edits
    def _task_started(self, command: str, text: str) -> None:
        """A refine or auto-symbolic runs in steps: progress shows, Stop (Cancel) ends it."""
        self._expect_state(editing=command)
        self.training_panel.show_task(text, 0, 1)
        self.statusBar().showMessage(f"{text} Cancel (Stop) leaves the model as it was.")

    def _on_edit_progress(self, e: dict[str, Any]) -> None:
        label = {"refine": "Refine: layer", "auto_symbolic": "Auto-symbolic: edge"}.get(
            e.get("command"), "step")
        self.training_panel.show_task(f"{label} {e['step']} of {e['steps']}", e["step"],
                                      e["steps"])
        self.statusBar().showMessage(e.get("message", ""))

    def _task_ended(self, e: dict[str, Any]) -> bool:
        """The end of a stepped edit; True when it changed nothing (cancelled, failed)."""
        name = "Refine grid" if e["command"] == "refine" else "Auto-symbolic"
        reason = e.get("reason", "finished")
        if reason == "finished":
            self.training_panel.show_task(f"{name} done", 1, 1)
            return False
        outcome = "cancelled" if reason == "cancelled" else "failed"
        self.training_panel.show_task(f"{name} {outcome}", 0, 1)
        if reason == "cancelled":
            self.statusBar().showMessage(f"{name} cancelled: the model is unchanged.", 10000)
        return True

    def fine_tune(self) -> None:
        """Continue training the current model (locked edges keep their functions)."""
        if self.fitted and not self.training:
            self.train()

    def discover(self) -> None:
        """The one-click pipeline: train, prune, refine, symbolic, fine-tune, formula."""
        if not self.worker_state.get("has_data") or self.training:
            return
        self.bridge.send("discover")
        self._expect_state(discovering=True)
        self.loss_plot.clear()  # the pipeline's steps, all stages one after another
        self._pipeline_steps = 0
        self.messages.show_message("info", "Discover is running: train → prune → refine → "
                                   "symbolic → fine-tune → formula. Stop ends it.")

    def _on_pipeline(self, e: dict[str, Any]) -> None:
        stages = e.get("stages") or []
        where = f"stage {e['stage_index'] + 1} of {len(stages)}: {e['stage']}"
        if e["kind"] == "step" and e.get("steps"):
            loss = e.get("train_loss")
            text = f"Discover, {where} — step {e['step']} of {e['steps']}" + (
                f", train loss {loss:.4g}" if loss is not None else "")
            self._pipeline_steps = getattr(self, "_pipeline_steps", 0) + 1
            nan = float("nan")
            self._on_progress([{  # drawn like a training run's progress
                "step": self._pipeline_steps, "run_step": e["step"], "steps": e["steps"],
                "train_loss": nan if loss is None else loss,
                "test_loss": nan if e.get("test_loss") is None else e["test_loss"],
                "steps_per_s": None}])
        else:
            text = f"Discover, {where}" + (f" — {e['message']}" if e.get("message") else "")
        self.statusBar().showMessage(text)
        self.last_pipeline = e

    def request_formula_by_user(self) -> None:
        self.formula_dock.show()
        self.formula_dock.raise_()
        self.request_formula(True)

    def request_formula(self, by_user: bool = False) -> None:
        if self.fitted:
            self._formula_wanted_by_user = by_user
            self.bridge.send("formula")

    # ------------------------------------------------------------------ results
    def _on_result(self, e: dict[str, Any]) -> None:
        command = e.get("command", "")
        self.last_result[command] = e
        if command == "inspect":
            self.inspector.show_edge(e, self._edge_text(e["edge"]))
        elif command == "suggest":
            self.inspector.show_candidates(e)
        elif command == "formula":
            self.formula_panel.set_result(e)
            self._say_discovered_formula(e)
        elif command == "save":
            self._on_saved(e)
        elif command in ("refine", "auto_symbolic") and self._task_ended(e):
            return  # cancelled or failed: nothing changed, nothing to undo
        elif command in ("undo", "redo"):
            self.loss_plot.set_history(e.get("losses") or {})  # the curve as it was then
            self.messages.dismiss()  # what it said about the undone edit no longer holds
            self.training_panel.show_task(f"{command.capitalize()}: {e.get('what')}", 1, 1)
        elif command == "discover":
            self._discover_ended(e)
        if command in MODEL_EDITS:
            self.dirty = True
            self._describe_edit(e)
            self._refresh_inspector()
            if command == "discover":  # the state saying it is fitted comes just after
                self.bridge.send("formula")
            else:
                self.request_formula()

    def _discover_ended(self, e: dict[str, Any]) -> None:
        finished = e.get("reason") == "finished"
        self.training_panel.show_task("Discover finished" if finished else
                                      f"Discover {e.get('reason')} ({e.get('stage')})",
                                      1 if finished else 0, 1)
        self._announce_formula = finished

    def _say_discovered_formula(self, e: dict[str, Any]) -> None:
        if not self._announce_formula:
            return
        self._announce_formula = False
        shown = [f"{t} = {f}" for t, f in zip(e.get("target_names") or [],
                                              e.get("formulas") or [], strict=False)]
        if shown:
            self.statusBar().showMessage(f"Discover finished: {'; '.join(shown)}")

    def _edge_text(self, edge: list[int]) -> str:
        g = self.network_view.net_geometry
        if g is None:
            return f"Edge {tuple(edge)}"
        try:
            return self.network_view.edge_label(g.index_of(*edge))
        except (IndexError, KeyError, ValueError):
            return f"Edge {tuple(edge)}"

    def _describe_edit(self, e: dict[str, Any]) -> None:
        command = e["command"]
        if command in ("prune", "prune_node", "prune_edge"):
            before, after = e.get("test_rmse_before"), e.get("test_rmse_after")
            cost = (f" Test RMSE {before:.4g} → {after:.4g}."
                    if before is not None and after is not None else "")
            what = f"Pruned edge {tuple(e['edge'])}" if command == "prune_edge" else "Pruned"
            text = (f"{what}: width {e.get('width_before')} → "
                    f"{e.get('width_after')}.{cost} Edit ▸ Undo puts it back.")
            self.messages.show_message("info", text)
        elif command == "auto_symbolic":
            self.messages.show_message("info", describe_auto_symbolic(e.get("edges", [])))
            text = "Auto-symbolic done."
        elif command == "discover":
            text = (f"Discover {e.get('reason')} (last stage: {e.get('stage')}) after "
                    f"{e.get('seconds', 0):.0f} s.")
            self.messages.show_message("info", text + " The formula panel shows the result.")
            self.formula_dock.show()
            self.formula_dock.raise_()  # it shares its place with the inspector
        elif command in ("undo", "redo"):
            text = f"{command.capitalize()}: {e.get('what')}"
        elif command == "lock":
            r2 = e.get("r2")
            text = f"Locked edge {tuple(e['edge'])} to {e['name']}" + (
                f" (R² {r2:.4f})." if r2 is not None else ".")
        else:
            text = f"{command.replace('_', ' ').capitalize()} done."
        self.statusBar().showMessage(text, 10000)

    def _after_training(self, e: dict[str, Any]) -> None:
        if e.get("steps_done"):
            self.dirty = True
            self._refresh_inspector()
            self.request_formula()

    def formula_error(self, e: dict[str, Any]) -> bool:
        """Show a formula refusal in the formula panel (and, when the user asked for the
        formula, in the message bar, in the app's words); True when handled here."""
        if e.get("command") != "formula":
            return False
        self._announce_formula = False  # Discover's end was already said by its result
        message = error_text(e)
        numeric = is_notice(e)  # numeric edges: a normal state of the work, not a failure
        self.formula_panel.set_unavailable(message)
        by_user, self._formula_wanted_by_user = self._formula_wanted_by_user, False
        if by_user:
            self.messages.show_message("info" if numeric else "error", message,
                                       e.get("detail", ""))
        return True
