"""Editing the model: the inspector, prune, lock, refine, auto-symbolic, undo, Discover and
the formula.

Every edit is a worker command; the worker answers with a ``result`` (handled here), then a
fresh snapshot and state. What is shown follows the window's state: new data or a new
project clears the inspector and the formula.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QInputDialog, QMenu

from kanstudio.gui.edit_dialogs import AutoPruneDialog, AutoSymbolicDialog, describe_auto_symbolic
from kanstudio.gui.formula_panel import format_metric
from kanstudio.gui.menus import EditActions
from kanstudio.gui.messages import (
    FORMULA_NOT_YET,
    discover_ended,
    discovered_formula,
    error_text,
    is_notice,
)
from kanstudio.gui.run_controller import RunController
from kanstudio.gui.views import Views

__all__ = ["EditController", "MODEL_EDITS", "SEARCH_BUDGET"]

# Results that change the model: the formula is rebuilt and the project becomes unsaved.
#: Work size of "Search expressions…" on one edge (kanstudio.symbolic.search.BUDGETS):
#: seconds on one core for a 1-D curve.
SEARCH_BUDGET = "small"

MODEL_EDITS = ("prune", "prune_node", "prune_edge", "refine", "lock", "unlock",
               "auto_symbolic", "undo", "redo", "discover", "use_formula", "adopt_project",
               "lock_node", "unlock_node")
_SEARCHES = ("search_edge", "search_node")


class EditController(QObject):
    def __init__(self, views: Views, actions: EditActions, runs: RunController) -> None:
        super().__init__(views.window)
        self.v = views
        self.state = views.state
        self.actions = actions
        self.runs = runs
        self.formula_wanted_by_user = False
        self.announce_formula = False  # Discover ended: say its formula when it arrives
        # (worse?, text): what the last Discover replaced, repeated with its formula
        self.replaced_note: tuple[bool, str] | None = None
        self.pipeline_steps = 0  # Discover's training steps so far, drawn as one curve
        self.context_menu: QMenu | None = None
        self.prune_dialog: AutoPruneDialog | None = None  # open: prune previews go to it
        self._connect()
        # Discover and Fine-tune train: the same rule as Train gates them (RunController.
        # can_train: data the Data panel accepts, loaded by the engine, a valid width).
        self.state.observe(("engine", "data_ok", "built_arch"), self.update_actions)
        self.state.observe(("current_path", "current_project"), self.forget_model_views)
        self.state.observe("engine", self._forget_untrained)
        self.update_actions()

    def _connect(self) -> None:
        b, v, a = self.v.bridge, self.v, self.actions
        b.result.connect(self._on_result)
        b.snapshot.connect(self._keep_snapshot)
        b.done.connect(self._after_training)
        b.pipeline.connect(self._on_pipeline)
        b.edit_progress.connect(self._on_edit_progress)
        b.front.connect(v.formula_panel.set_front)
        b.error.connect(self.formula_error)
        b.error.connect(self._search_failed)
        v.network_view.edge_selected.connect(self.inspect_edge)
        v.network_view.node_selected.connect(self._on_node_selected)
        v.network_view.context_requested.connect(self._context_menu)
        v.inspector.lock_requested.connect(self.lock_edge)
        v.inspector.search_requested.connect(self.search_edge)
        v.inspector.unlock_requested.connect(self.unlock_edge)
        v.inspector.prune_requested.connect(self.prune_edge)
        v.inspector.functions_changed.connect(self._set_functions)
        v.inspector.search_node_requested.connect(self.search_node)
        v.inspector.lock_node_requested.connect(self.lock_node)
        v.inspector.unlock_node_requested.connect(self.unlock_node)
        v.inspector.prune_node_requested.connect(self.prune_node)
        v.formula_panel.refresh_requested.connect(self.request_formula_by_user)
        v.training_panel.settings_edited.connect(self.update_actions)
        v.formula_panel.use_requested.connect(self.use_formula)
        for action, slot in ((a.undo, self.undo), (a.redo, self.redo),
                             (a.delete, self.delete_selected), (a.auto_prune, self.auto_prune),
                             (a.refine, self.refine_grid), (a.auto_symbolic, self.auto_symbolic),
                             (a.fine_tune, self.fine_tune), (a.discover, self.discover),
                             (a.formula, self.request_formula_by_user)):
            action.triggered.connect(lambda _checked=False, s=slot: s())

    def forget_model_views(self) -> None:
        """Other data or another project: what the inspector and formula showed is gone."""
        self.v.inspector.clear()
        self.v.formula_panel.set_unavailable(FORMULA_NOT_YET)
        self.v.formula_panel.set_front({"entries": []})
        self.state.last_snapshot = None

    def _forget_untrained(self) -> None:
        """A model with nothing learned (New model, undo of the first run) has no formula
        and no edge to inspect: what the panels showed was another model's."""
        if self.state.engine.fitted:
            return
        inspector = self.v.inspector
        if (self.v.formula_panel.result is not None or inspector.edge is not None
                or inspector.node is not None):
            self.forget_model_views()

    # ------------------------------------------------------------------ helpers
    @property
    def fitted(self) -> bool:
        return bool(self.state.engine.fitted)

    def _edit(self, command: str, **fields: Any) -> bool:
        """Send a model edit, unless there is no trained model to edit (or a refine or
        auto-symbolic run is still going: an edit would silently cancel it)."""
        if not self.fitted:
            self.v.notify.error("Train a model first: there is nothing to edit yet.")
            return False
        if self.state.engine.editing:
            self.v.notify.error("A refine, auto-symbolic or expression search is still going: "
                                "wait for it or press Cancel first.")
            return False
        self.v.bridge.send(command, **fields)
        return True

    def _keep_snapshot(self, snap: dict[str, Any]) -> None:
        self.state.last_snapshot = snap

    def update_actions(self) -> None:
        a, engine = self.actions, self.state.engine
        a.undo.setEnabled(engine.can_undo and not self.state.engine.busy)
        a.redo.setEnabled(engine.can_redo and not self.state.engine.busy)
        for action in (a.auto_prune, a.refine, a.auto_symbolic, a.formula, a.delete):
            action.setEnabled(self.fitted and not self.state.engine.busy)
        a.fine_tune.setEnabled(self.can_fine_tune())
        a.discover.setEnabled(self.can_discover())

    def can_discover(self) -> bool:
        return self.runs.can_train() and not self.state.engine.busy

    def can_fine_tune(self) -> bool:
        return self.fitted and self.can_discover()

    # ------------------------------------------------------------------ inspector
    def inspect_edge(self, layer: int, i: int, j: int, raise_dock: bool = True) -> None:
        if not self.fitted:
            self.v.notify.status("Train the model first: an untrained edge has no "
                                         "data to inspect yet.", 6000)
            return
        if raise_dock:  # a click on an edge; a refresh after an edit leaves the tabs alone
            self.v.inspector_dock.show()
            self.v.inspector_dock.raise_()
        self.v.bridge.send("inspect", layer=layer, i=i, j=j)
        self.v.bridge.send("suggest", layer=layer, i=i, j=j)

    def lock_edge(self, layer: int, i: int, j: int, name: str) -> None:
        self._edit("lock", layer=layer, i=i, j=j, name=name)

    def search_edge(self, layer: int, i: int, j: int) -> None:
        """Search expressions for the edge's curve (a worker run: progress, Cancel)."""
        if self.state.engine.training or self.state.engine.discovering:
            self.v.notify.status("Stop training or Discover first, then search.", 8000)
            return
        if self._edit("search_edge", layer=layer, i=i, j=j, budget=SEARCH_BUDGET):
            self.v.inspector.set_searching(True)
            self._task_started("search_edge", f"Searching expressions for edge "
                               f"{(layer, i, j)}…")

    def search_node(self, level: int, node: int) -> None:
        """Search expressions for a node's value (a worker run: progress, Cancel)."""
        if self.state.engine.training or self.state.engine.discovering:
            self.v.notify.status("Stop training or Discover first, then search.", 8000)
            return
        if self._edit("search_node", layer=level, node=node, budget=SEARCH_BUDGET):
            self.v.inspector.set_searching(True)
            self._task_started("search_node", f"Searching expressions for node "
                               f"{(level, node)}…")

    def lock_node(self, level: int, node: int, name: str, inputs: Any = None) -> None:
        fields: dict[str, Any] = {"layer": level, "node": node, "name": name}
        if inputs is not None:
            fields["inputs"] = [int(c) for c in inputs]
        self._edit("lock_node", **fields)

    def unlock_node(self, level: int, node: int) -> None:
        self._edit("unlock_node", layer=level, node=node)

    def inspect_node(self, level: int, node: int, raise_dock: bool = True) -> None:
        if not self.fitted:
            return
        if raise_dock:
            self.v.inspector_dock.show()
            self.v.inspector_dock.raise_()
        self.v.bridge.send("inspect_node", layer=level, node=node)

    def _search_failed(self, e: dict[str, Any]) -> None:
        if e.get("command") not in _SEARCHES:
            return
        self.v.inspector.set_searching(False)
        if e.get("kind") == "search_unavailable":  # said once: the button stays off
            self.v.inspector.set_search_unavailable(
                str((e.get("fields") or {}).get("reason") or e.get("message", "")))
        self.v.training_panel.show_task("Expression search failed", 0, 1)

    def unlock_edge(self, layer: int, i: int, j: int) -> None:
        self._edit("unlock", layer=layer, i=i, j=j)

    def prune_edge(self, layer: int, i: int, j: int) -> None:
        self._edit("prune_edge", layer=layer, i=i, j=j)

    def delete_selected(self) -> None:
        """Delete: prune the selected node or edge."""
        view = self.v.network_view
        if view.selected_node is not None:
            self.prune_node(*view.selected_node)
        elif view.selected is not None:
            self.prune_edge(*view.selected)
        else:
            self.v.notify.status("Select a node or an edge first (click it), then "
                                         "press Delete.", 5000)

    def prune_node(self, level: int, i: int) -> None:
        width = self.state.engine.width
        if level >= len(width) - 1:
            self.v.notify.error("Output nodes cannot be pruned: they are what the model predicts.")
            return
        self._edit("prune_node", layer=level, i=i)

    def _on_node_selected(self, level: int, i: int) -> None:
        names = (self.state.engine.model or {}).get("input_names") or []
        name = names[i] if level == 0 and i < len(names) else f"node {i} of level {level}"
        if level > 0 and self.fitted:  # its value can be searched and locked
            self.inspect_node(level, i)
            self.v.notify.status(f"Selected {name}: the Inspector can search an expression "
                                 "for it; Delete (or right-click) prunes it.", 8000)
            return
        self.v.notify.status(f"Selected {name}: Delete (or right-click) prunes it.",
                                     8000)

    def _context_menu(self, what: Any, pos: Any) -> None:
        kind, address = what
        if address is None or not self.fitted or self.state.engine.busy:
            return
        menu = QMenu(self.v.window)
        if kind == "node":
            if address[0] > 0:
                menu.addAction("Inspect Node", lambda: self.inspect_node(*address))
            menu.addAction("Prune Node", lambda: self.prune_node(*address))
            if self.v.inspector.node == tuple(address) and self.v.inspector.locked:
                menu.addAction("Unlock Node", lambda: self.unlock_node(*address))
        else:
            menu.addAction("Inspect Edge", lambda: self.inspect_edge(*address))
            menu.addAction("Prune Edge", lambda: self.prune_edge(*address))
            if self.v.inspector.edge == tuple(address) and self.v.inspector.locked:
                menu.addAction("Unlock Edge", lambda: self.unlock_edge(*address))
        self.context_menu = menu
        menu.popup(pos)

    def _set_functions(self, names: list[str] | None) -> None:
        self.v.bridge.send("set_settings", settings={"functions": names})
        if self.v.inspector.edge is not None:
            self.v.bridge.send("suggest", **dict(zip(("layer", "i", "j"), self.v.inspector.edge,
                                                   strict=True)))

    def _refresh_inspector(self) -> None:
        node = self.v.inspector.node
        if node is not None:
            width = self.state.engine.width
            if 0 < node[0] < len(width) and node[1] < width[node[0]]:
                self.inspect_node(*node, raise_dock=False)
            else:
                self.v.inspector.clear()
            return
        edge = self.v.inspector.edge
        if edge is None:
            return
        width = self.state.engine.width
        arity = (self.state.engine.model or {}).get("mult_arity") or [[] for _ in width]
        layer, i, j = edge
        # j is an edge column: a product node has one per factor (kanstudio.core.width)
        columns = [n - len(a) + sum(a) for n, a in zip(width, arity, strict=False)]
        if layer + 1 < len(columns) and i < width[layer] and j < columns[layer + 1]:
            self.inspect_edge(layer, i, j, raise_dock=False)
        else:
            self.v.inspector.clear()

    # ------------------------------------------------------------------ model menu
    def undo(self) -> None:
        if self.state.engine.can_undo and not self.state.engine.busy:
            self.v.bridge.send("undo")

    def redo(self) -> None:
        if self.state.engine.can_redo and not self.state.engine.busy:
            self.v.bridge.send("redo")

    def auto_prune(self) -> None:
        if not self.fitted:
            return
        dialog = AutoPruneDialog(self.v.window)
        dialog.preview_requested.connect(lambda node, edge: self.v.bridge.send(
            "prune_preview", node_threshold=node, edge_threshold=edge))
        self.prune_dialog = dialog
        dialog.request_preview()
        try:
            accepted = dialog.exec()
        finally:
            self.prune_dialog = None
            self.v.network_view.mark_for_removal([], [])
        if accepted:
            self._edit("prune", **dialog.thresholds())

    def _show_prune_preview(self, e: dict[str, Any]) -> None:
        """The engine's answer to the open auto-prune dialog: its text, and the marks in
        the network view on what would go."""
        dialog = self.prune_dialog
        if dialog is not None and dialog.show_preview(e):
            self.v.network_view.mark_for_removal(e.get("removed_edges") or [],
                                                 e.get("removed_nodes") or [])

    def refine_grid(self) -> None:
        grid = int((self.state.engine.model or {}).get("grid", 5))
        value, ok = QInputDialog.getInt(self.v.window, "Refine Grid",
                                        f"New grid size (now {grid}):",
                                        min(grid * 2, 200), grid + 1, 200)
        if ok and self._edit("refine", grid=value):
            self._task_started("refine", f"Refining the grid to {value}…")

    def auto_symbolic(self) -> None:
        if not self.fitted:
            return
        settings = self.state.engine.settings
        dialog = AutoSymbolicDialog(settings, self.v.window)
        if dialog.exec():
            fields = dialog.values()
            self.v.bridge.send("set_settings",
                             settings={"simplicity_weight": fields.pop("simplicity_weight")})
            if self._edit("auto_symbolic", **fields):
                self._task_started("auto_symbolic", "Auto-symbolic: fitting functions to "
                                   "the edges…")

    # ------------------------------------------------------------------ long edits
    def _task_started(self, command: str, text: str) -> None:
        """A refine or auto-symbolic runs in steps: progress shows, Stop (Cancel) ends it."""
        self.runs.expect_state(editing=command)
        self.v.training_panel.show_task(text, 0, 1)
        self.v.notify.status(f"{text} Cancel (Stop) leaves the model as it was.")

    def _on_edit_progress(self, e: dict[str, Any]) -> None:
        label = {"refine": "Refine: layer", "auto_symbolic": "Auto-symbolic: edge",
                 "search_edge": "Expression search: generation",
                 "search_node": "Expression search: generation"}.get(e.get("command"), "step")
        self.v.training_panel.show_task(f"{label} {e['step']} of {e['steps']}", e["step"],
                                      e["steps"])
        self.v.notify.status(e.get("message", ""))

    def _task_ended(self, e: dict[str, Any]) -> bool:
        """The end of a stepped edit; True when it changed nothing (cancelled, failed)."""
        name = {"refine": "Refine grid", "search_edge": "Expression search",
                "search_node": "Expression search"}.get(
            e["command"], "Auto-symbolic")
        reason = e.get("reason", "finished")
        if reason == "finished":
            self.v.training_panel.show_task(f"{name} done", 1, 1)
            return False
        outcome = "cancelled" if reason == "cancelled" else "failed"
        self.v.training_panel.show_task(f"{name} {outcome}", 0, 1)
        if reason == "cancelled":
            self.v.notify.status(f"{name} cancelled: the model is unchanged.", 10000)
        return True

    def fine_tune(self) -> None:
        """A short fine-tune of the current model (locked edges keep their functions)."""
        if self.can_fine_tune():
            self.runs.fine_tune()

    def discover(self) -> None:
        """The one-click pipeline: train, prune, refine, symbolic, fine-tune, formula."""
        if not self.can_discover():
            return
        self.v.bridge.send("discover")
        self.runs.expect_state(discovering=True)
        self.v.loss_plot.clear()  # the pipeline's steps, all stages one after another
        self.v.discover_log.clear()  # this run's stages and decisions
        self.pipeline_steps = 0
        self.v.notify.info("Discover is running: train → prune → refine → "
                                   "symbolic → fine-tune → formula. Stop ends it.")

    def _on_pipeline(self, e: dict[str, Any]) -> None:
        stages = e.get("stages") or []
        where = f"stage {e['stage_index'] + 1} of {len(stages)}: {e['stage']}"
        if e["kind"] == "step" and e.get("steps"):
            loss = e.get("train_loss")
            text = f"Discover, {where} — step {e['step']} of {e['steps']}" + (
                f", train loss {loss:.4g}" if loss is not None else "")
            self.pipeline_steps += 1
            nan = float("nan")
            self.runs.add_progress([{  # drawn like a training run's progress
                "step": self.pipeline_steps, "run_step": e["step"], "steps": e["steps"],
                "train_loss": nan if loss is None else loss,
                "test_loss": nan if e.get("test_loss") is None else e["test_loss"],
                "steps_per_s": None, "label": f"Discover, {e['stage']}"}])
        else:
            text = f"Discover, {where}" + (f" — {e['message']}" if e.get("message") else "")
            if e.get("message") and e["kind"] != "progress":  # a long search: status only
                self.v.discover_log.appendPlainText(f"[{e['stage']}] {e['message']}")
        self.v.notify.status(text)
        self.state.last_pipeline = e

    def use_formula(self, index: int) -> None:
        """Make formula ``index`` of Discover's front the model's (one undo step)."""
        if not self.state.engine.busy:
            self._edit("use_formula", index=index)

    def request_formula_by_user(self) -> None:
        self.v.formula_dock.show()
        self.v.formula_dock.raise_()
        self.request_formula(True)

    def request_formula(self, by_user: bool = False) -> None:
        if self.fitted:
            self.formula_wanted_by_user = by_user
            self.v.bridge.send("formula")

    # ------------------------------------------------------------------ results
    def _on_result(self, e: dict[str, Any]) -> None:
        command = e.get("command", "")
        self.state.last_result[command] = e
        if command == "inspect":
            self.v.inspector.show_edge(e, self._edge_text(e["edge"]))
        elif command == "suggest":
            self.v.inspector.show_candidates(e)
        elif command == "prune_preview":
            self._show_prune_preview(e)
        elif command == "formula":
            self.v.formula_panel.set_result(e)
            self._say_discovered_formula(e)
        elif command == "inspect_node":
            if e.get("gone"):  # pruned meanwhile
                self.v.inspector.clear()
            else:
                self.v.inspector.show_node(e)
        elif command in _SEARCHES:
            self._search_ended(e)
        elif command in ("refine", "auto_symbolic") and self._task_ended(e):
            return  # cancelled or failed: nothing changed, nothing to undo
        elif command in ("undo", "redo"):
            self.v.loss_plot.set_history(e.get("losses") or {})  # the curve as it was then
            self.v.notify.dismiss()  # what it said about the undone edit no longer holds
            self.v.training_panel.show_task(f"{command.capitalize()}: {e.get('what')}", 1, 1)
        elif command == "discover":
            self._discover_ended(e)
        elif command == "adopt_project":  # a seed of Discover across seeds
            self.v.loss_plot.set_history(e.get("losses") or {})
        if command in MODEL_EDITS:
            self.state.dirty = True
            self._describe_edit(e)
            self._refresh_inspector()
            if command == "discover":  # the state saying it is fitted comes just after
                self.v.bridge.send("formula")
            else:
                self.request_formula()

    def _search_ended(self, e: dict[str, Any]) -> None:
        """The search's expressions join the inspector's candidates (it changed nothing)."""
        self.v.inspector.set_searching(False)
        if self._task_ended(e):
            return
        found = e.get("candidates") or []
        self.v.inspector.show_search_results(e)
        best = found[0] if found else None
        what = f"node {tuple(e['node'])}" if "node" in e else f"edge {tuple(e['edge'])}"
        self.v.notify.status(
            f"Expression search: {len(found)} expression(s) for {what}"
            + (f"; best for its size: {best['expression']} (R² {best['r2']:.6f})"
               if best and best.get("r2") is not None else "")
            + ". Select one and Lock it.", 15000)

    def _discover_ended(self, e: dict[str, Any]) -> None:
        finished = e.get("reason") == "finished"
        self.runs.drain_progress()  # Discover's last training steps, then its end
        # the chosen model's own curve, not every trial's steps drawn one after another
        self.v.loss_plot.set_history(e.get("losses") or {})
        self.v.training_panel.show_task("Discover finished" if finished else
                                      f"Discover {e.get('reason')} ({e.get('stage')})",
                                      1 if finished else 0, 1)
        self.announce_formula = finished

    def _say_discovered_formula(self, e: dict[str, Any]) -> None:
        if not self.announce_formula:
            return
        self.announce_formula = False
        shown = [f"{t} = {f}" for t, f in zip(e.get("target_names") or [],
                                              e.get("formulas") or [], strict=False)]
        if shown:
            bar, status = discovered_formula(e.get("status"), shown,
                                             e.get("formula_test_r2"),
                                             e.get("formula_network_r2"))
            note = self.replaced_note
            self.replaced_note = None
            if note is not None:  # what Discover replaced stays in view beside its formula
                bar = f"{bar} {note[1]}"
            (self.v.notify.warning if note is not None and note[0] else self.v.notify.info)(bar)
            self.v.notify.status(status)

    def _edge_text(self, edge: list[int]) -> str:
        g = self.v.network_view.net_geometry
        if g is None:
            return f"Edge {tuple(edge)}"
        try:
            return self.v.network_view.edge_label(g.index_of(*edge))
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
            self.v.notify.info(text)
        elif command == "auto_symbolic":
            self.v.notify.info(describe_auto_symbolic(e.get("edges", [])))
            text = "Auto-symbolic done."
        elif command == "discover":
            # what the formula is worth is said when it arrives (_say_discovered_formula)
            text = discover_ended(str(e.get("reason")), str(e.get("stage")),
                                  float(e.get("seconds", 0)))
            self._say_replaced(e.get("replaced"), text)
            self.v.formula_dock.show()
            self.v.formula_dock.raise_()  # it shares its place with the inspector
        elif command in ("undo", "redo"):
            text = f"{command.capitalize()}: {e.get('what')}"
        elif command == "use_formula":
            # a formula from the structure step or the search engine has no network of
            # its own form: the view keeps the network it was found with
            text = (f"Formula switched ({e.get('what')}). The network view shows the network "
                    "it was found with; the Formula panel's R² against the network says how "
                    "far the two agree. Edit ▸ Undo goes back.")
            self.v.notify.dismiss()  # Discover's notice spoke of the formula it picked
        elif command == "adopt_project":
            text = f"Loaded {e.get('what')}."
            self.v.notify.info(f"Loaded {e.get('what')} (its seed, split and settings "
                               "with it). Edit ▸ Undo puts the previous model back.")
        elif command == "lock_node":
            r2 = e.get("r2")
            text = (f"Node {tuple(e['node'])} is now computed from {e.get('label')}; the "
                    "edges feeding it no longer matter (Unlock gives them back)" + (
                        f" (R² {r2:.4f} against the node before)." if r2 is not None else "."))
        elif command == "lock":
            r2 = e.get("r2")
            text = f"Locked edge {tuple(e['edge'])} to {e.get('label') or e['name']}" + (
                f" (R² {r2:.4f})." if r2 is not None else ".")
        else:
            text = f"{command.replace('_', ' ').capitalize()} done."
        self.v.notify.status(text, 10000)

    def _say_replaced(self, replaced: dict[str, Any] | None, text: str) -> None:
        """Discover's end: what it replaced, before and after on the held-out rows; a
        warning when the result is worse (the replaced model is one Undo away). Kept in
        :attr:`replaced_note` so that the formula's announcement repeats it."""
        self.replaced_note = None
        if not replaced:
            self.v.notify.info(text)
            return
        before, after = replaced.get("test_rmse_before"), replaced.get("test_rmse_after")
        said = (f"It replaced your trained model (width {replaced.get('width_before')}"
                f", held-out test RMSE {format_metric(before)}) by a formula with held-out "
                f"test RMSE {format_metric(after)}")
        worse = bool(replaced.get("worse"))
        said += (": worse than your model. " if worse else ": no worse. ") + (
            "Edit ▸ Undo brings your model back.")
        self.replaced_note = (worse, said)
        (self.v.notify.warning if worse else self.v.notify.info)(f"{text} {said}")

    def _after_training(self, e: dict[str, Any]) -> None:
        if e.get("steps_done"):
            self.state.dirty = True
            self._refresh_inspector()
            self.request_formula()

    def formula_error(self, e: dict[str, Any]) -> None:
        """Show a formula refusal in the formula panel (and, when the user asked for the
        formula, in the message bar), worded from its kind by the message catalogue."""
        if e.get("command") != "formula":
            return
        self.announce_formula = False  # Discover's end was already said by its result
        message = error_text(e)
        numeric = is_notice(e)  # numeric edges: a normal state of the work, not a failure
        self.v.formula_panel.set_unavailable(message)
        by_user, self.formula_wanted_by_user = self.formula_wanted_by_user, False
        if by_user and numeric:
            self.v.notify.info(message, e.get("detail", ""))
        elif by_user:
            self.v.notify.bar.show_message("error", message, e.get("detail", ""))
