"""The window's side of the session: run controls and what each worker event changes.

Mixed into :class:`~kanstudio.gui.main_window.MainWindow` (which provides the panels, the
bridge and the message bar). The GUI never touches the model: it sends commands and
redraws from events (design.md §4.4).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer

from kanstudio.gui.messages import ENGINE_RESTARTED, engine_died, error_text
from kanstudio.gui.training_panel import ARCHITECTURE_KEYS

__all__ = ["SessionControl", "default_width"]

PROGRESS_REFRESH_MS = 200

# Settings the panel hands to the worker's SessionSettings.
_SETTING_KEYS = (*ARCHITECTURE_KEYS, "steps", "opt", "lr", "lamb")


def default_width(n_inputs: int, n_outputs: int) -> list[int]:
    """The same rule as Session.default_width (the worker's ``loaded`` event confirms it);
    repeated here so the network can be drawn before the engine has started."""
    return [n_inputs, min(2 * n_inputs + 1, 9), n_outputs]


class SessionControl:
    """Run controls and worker-event handlers of the main window."""

    def __init__(self) -> None:
        self.current_path: str | None = getattr(self, "current_path", None)
        self.current_project: str | None = None
        self.pending_project: str | None = None
        self.data_ok = False
        self.worker_state: dict[str, Any] = {}
        self.built_arch: dict[str, Any] | None = None  # settings of the current model
        self.last_done: dict[str, Any] | None = None
        self._reload_after_restart = False
        self._loaded_roles: tuple | None = None
        self._devices_text = ""
        self._adopt_settings = False  # next state's settings come from an opened project
        b = self.bridge
        b.ready.connect(self._on_ready)
        b.loaded.connect(self._on_loaded)
        b.state.connect(self._on_state)
        b.progress.connect(self._on_progress)
        b.snapshot.connect(self.network_view.set_snapshot)
        b.done.connect(self._on_done)
        b.error.connect(self._on_error)
        b.died.connect(self._on_died)
        dp, tp = self.data_panel, self.training_panel
        dp.data_ready.connect(self._on_data_ready)
        dp.data_blocked.connect(self._on_data_blocked)
        tp.train_clicked.connect(self.train)
        tp.pause_clicked.connect(self.toggle_pause)
        tp.step_clicked.connect(self.step)
        tp.stop_clicked.connect(self.stop)
        tp.new_model_clicked.connect(self.new_model)
        tp.settings_edited.connect(self._on_settings_edited)
        self.network_view.edge_hovered.connect(self._on_edge_hovered)
        # Loss plot and progress bar redraw at a few Hz: their axes and styles cost more
        # to paint than the information gained at the worker's step rate.
        self._pending_progress: list[dict[str, Any]] = []
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(PROGRESS_REFRESH_MS)
        self._progress_timer.timeout.connect(self._flush_progress)
        self._update_controls()

    # ------------------------------------------------------------------ engine
    def start_worker(self) -> None:
        self.engine_label.setText("Engine: starting…")
        self.bridge.start()

    @property
    def training(self) -> bool:
        """A training run, Discover or a refine/auto-symbolic edit is running (Stop ends or
        cancels it; the model cannot be edited meanwhile)."""
        state = self.worker_state
        return bool(state.get("training") or state.get("discovering") or state.get("editing"))

    @property
    def paused(self) -> bool:
        return bool(self.worker_state.get("paused"))

    def _can_train(self) -> bool:
        return (self.data_ok and self.bridge.is_ready and bool(self.worker_state.get("has_data"))
                and self.training_panel.validate_width() is not None)

    def _update_controls(self) -> None:
        state = self.worker_state
        has_model = bool(state.get("has_model"))
        same_arch = self.built_arch == self.training_panel.architecture()
        can = self._can_train()
        self.training_panel.set_controls(
            can_train=can, training=self.training, paused=self.paused, has_model=has_model,
            continue_training=bool(state.get("fitted")) and same_arch)
        editing = bool(state.get("editing"))
        pausable = bool(state.get("training"))  # a training run; not Discover or an edit
        self.training_panel.pause_button.setEnabled(pausable)
        self.training_panel.stop_button.setText("Cancel" if editing else "Stop")
        self.training_panel.stop_button.setToolTip(
            "Cancel the edit: the model stays as it was" if editing else
            "Stop training; the model keeps what it learned (Shift+F5)")
        a = self.actions
        a.train.setEnabled(self.training_panel.train_button.isEnabled())
        a.pause.setEnabled(pausable)
        a.step.setEnabled(self.training_panel.step_button.isEnabled())
        a.stop.setEnabled(self.training)
        a.new_model.setEnabled(self.training_panel.new_button.isEnabled())
        if hasattr(self, "edit_actions"):
            self._update_edit_actions()

    # ------------------------------------------------------------------ run controls
    def _send_settings(self) -> dict[str, Any] | None:
        s = self.training_panel.settings()
        if s["width"] is None:
            self.show_error(self.training_panel.width_error.text() or "Width is not valid.")
            return None
        self.bridge.send("set_settings", settings={k: s[k] for k in _SETTING_KEYS})
        return s

    def _ensure_model(self, s: dict[str, Any]) -> None:
        arch = {k: s[k] for k in ARCHITECTURE_KEYS}
        if not self.worker_state.get("has_model") or arch != self.built_arch:
            self.bridge.send("new_model", width=s["width"])
            self.built_arch = arch
            self.loss_plot.clear()

    def _run_fields(self, s: dict[str, Any]) -> dict[str, Any]:
        return {"steps": s["steps"], "opt": s["opt"], "lr": s["lr"], "lamb": s["lamb"]}

    def _start_run(self, command: str) -> bool:
        """Send the panel's settings (building the model they describe, if new) and start
        a run with ``command`` (train or step); False when the settings do not allow it."""
        if not self._can_train():
            return False
        s = self._send_settings()
        if s is None:
            return False
        self._ensure_model(s)
        self.bridge.send(command, **self._run_fields(s))
        return True

    def train(self) -> None:
        if self.training or not self._start_run("train"):
            return
        self._expect_state(training=True, paused=False)
        self.statusBar().showMessage("Training…")

    def toggle_pause(self) -> None:
        if not self.training:
            return
        resume = self.paused
        self.bridge.send("resume" if resume else "pause")
        self._expect_state(paused=not resume)

    def step(self) -> None:
        if self.training:
            self.bridge.send("step")
        elif not self._start_run("step"):
            return
        self._expect_state(training=True, paused=True)

    def stop(self) -> None:
        if self.training:
            self.bridge.send("stop")

    def new_model(self) -> None:
        if self.training or not self._can_train():
            return
        s = self._send_settings()
        if s is None:
            return
        self.built_arch = None
        self._ensure_model(s)
        self.statusBar().showMessage("New, untrained model.", 5000)

    def _expect_state(self, **fields: Any) -> None:
        """Show the state a command leads to at once; the worker's ``state`` confirms it."""
        self.worker_state = {**self.worker_state, **fields}
        self._update_controls()

    # ------------------------------------------------------------------ data
    def _on_data_ready(self, roles: Any, drop_missing: bool) -> None:
        self.data_ok = True
        key = (self.current_path, tuple(roles.inputs), tuple(roles.targets), drop_missing)
        n_in, n_out = len(roles.inputs), len(roles.targets)
        self.training_panel.set_data_shape(n_in, n_out, default_width(n_in, n_out))
        if key != self._loaded_roles and self.current_path:
            if self.worker_state.get("has_model") and self._loaded_roles is not None:
                self.messages.show_message("info", "The columns changed, so training starts "
                                           "again from a new model.")
            self._loaded_roles = key
            self.worker_state = {**self.worker_state, "has_data": False, "has_model": False,
                                 "fitted": False}
            self.built_arch = None
            self.loss_plot.clear()
            self.loss_plot.set_target(", ".join(roles.targets))
            self._send_load()
        self._draw_planned_network()
        self._update_controls()

    def _send_load(self) -> None:
        if self._loaded_roles is None:
            return
        path, inputs, targets, drop = self._loaded_roles
        self.bridge.send("load", path=path, inputs=list(inputs), target=list(targets),
                         drop_missing=drop)

    def _on_data_blocked(self, message: str) -> None:
        self.data_ok = False
        self.statusBar().showMessage(f"Data: {message}", 10000)
        roles = self.data_panel.roles()
        if roles.inputs and roles.targets:  # still show what would be trained
            n_in, n_out = len(roles.inputs), len(roles.targets)
            self.training_panel.set_data_shape(n_in, n_out, default_width(n_in, n_out))
            self._draw_planned_network()
        self._update_controls()

    def _draw_planned_network(self) -> None:
        """Before a model exists, draw the architecture the panel describes."""
        if self.worker_state.get("fitted"):
            return
        width = self.training_panel.validate_width()
        roles = self.data_panel.roles()
        if width is not None and self.data_panel.table is not None:
            self.network_view.set_structure(width, roles.inputs, roles.targets)

    def _on_settings_edited(self) -> None:
        self._draw_planned_network()
        self._update_controls()

    # ------------------------------------------------------------------ worker events
    def _on_ready(self, e: dict[str, Any]) -> None:
        self.training_panel.set_devices(list(e.get("devices", [])))
        self._devices_text = ", ".join(d.upper() for d in e.get("devices", []))
        self.engine_label.setText(f"Engine: ready ({self._devices_text})")
        if self._reload_after_restart:
            self._reload_after_restart = False
            if self.current_project:
                self.bridge.send("open_project", path=self.current_project)
            else:
                self._send_load()
            self.messages.show_message("info", ENGINE_RESTARTED)
        elif not self.current_path and not self.current_project:
            self.offer_recovery()  # a crash may have left unsaved work behind
        self._update_controls()

    def _on_loaded(self, e: dict[str, Any]) -> None:
        if e.get("source") == "project":
            self._show_project_data(e)
            self.loss_plot.set_history(e.get("losses") or {})  # the saved model's curve
            self.project_opened()
            self.bridge.send("formula")  # a project with locks reopens with its formula
        n = e["n_samples"]
        self.statusBar().showMessage(
            f"Engine loaded {n:,} rows: {e['n_train']:,} for training, {e['n_test']:,} for "
            "testing.", 6000)
        self.training_panel.set_data_shape(len(e["input_names"]), len(e["target_names"]),
                                           list(e["default_width"]))
        self._draw_planned_network()

    def _show_project_data(self, e: dict[str, Any]) -> None:
        from kanstudio.data import ColumnRoles, RawTable

        columns = e.get("columns") or {}
        names, values = list(columns.get("names", [])), list(columns.get("values", []))
        table = RawTable(names, values)
        roles = ColumnRoles(inputs=list(e["input_names"]), targets=list(e["target_names"]))
        name = Path(e.get("path") or "project").name
        self.current_project, self.current_path = e.get("path"), None
        self.pending_project = None
        self.setWindowTitle(f"KAN Studio — {name}")
        self._loaded_roles = None
        self.data_panel.set_table(table, roles, f"{name} (data stored in the project)",
                                  editable=False)
        self.built_arch = None
        self._adopt_settings = True
        self.loss_plot.clear()
        if e.get("path"):
            self._remember(e["path"])

    def _on_state(self, e: dict[str, Any]) -> None:
        previous = self.worker_state.get("model")
        was_fitted = bool(self.worker_state.get("fitted"))
        self.worker_state = e
        model = e.get("model")
        if self._adopt_settings:
            self._adopt_settings = False
            self.training_panel.apply_settings(e.get("settings") or {})
            previous = None
        if model and (previous or {}).get("width") != model["width"] and (
                self.built_arch is None or self.built_arch.get("width") != model["width"]):
            # The engine changed the model (project, prune, undo): the panel follows it.
            self.training_panel.set_width(model["width"])
            self.built_arch = self.training_panel.architecture()
        if model and model.get("fitted") and model.get("grid") != self.training_panel.grid.value():
            self.training_panel.grid.setValue(int(model["grid"]))  # refine, or its undo
            self.built_arch = self.training_panel.architecture()
        if model and not model.get("fitted"):
            # An untrained model (undo of the first run, New model) has no curves to show.
            self.network_view.set_structure(model["width"], model["input_names"],
                                            model["target_names"], force=was_fitted)
        self.network_view.set_live(bool(e.get("training")) and not e.get("paused"))
        if e.get("training"):
            self.engine_label.setText("Engine: paused" if e.get("paused") else
                                      "Engine: training")
        elif e.get("editing") or e.get("discovering"):
            self.engine_label.setText("Engine: working")
        elif self.bridge.is_ready:
            self.engine_label.setText(f"Engine: ready ({self._devices_text})")
        self._update_controls()

    def _on_progress(self, events: list[dict[str, Any]]) -> None:
        self._pending_progress.extend(events)
        if not self._progress_timer.isActive():
            self._progress_timer.start()

    def _flush_progress(self) -> None:
        events, self._pending_progress = self._pending_progress, []
        if not events:
            return
        self.loss_plot.add_progress(events)
        last = events[-1]
        self.training_panel.set_progress(last["run_step"], last["steps"],
                                         last.get("steps_per_s"))

    def _on_done(self, e: dict[str, Any]) -> None:
        self._progress_timer.stop()
        self._flush_progress()
        self.last_done = e
        m = e.get("metrics") or {}
        test = m.get("test_rmse")
        fit = f": test RMSE {test:.4g}, R² {m.get('test_r2', float('nan')):.4f}" if test else ""
        if e["reason"] == "finished":
            text = f"Training finished after {e['steps_done']} steps{fit}."
        elif e["reason"] == "stopped":
            text = f"Training stopped at step {e['steps_done']} of {e['steps']}{fit}."
        else:
            text = f"Training ended by an error at step {e['steps_done']}."
        self.statusBar().showMessage(text, 20000)
        self.training_panel.set_progress(e["steps_done"], e["steps"], None)

    def _on_error(self, e: dict[str, Any]) -> None:
        if self.formula_error(e):
            return  # a formula asked for after an edit: the formula panel says why not
        if e.get("command") == "open_project":
            self.pending_project = None
        self.show_error(error_text(e), e.get("detail", ""))

    def _on_died(self, e: dict[str, Any]) -> None:
        self.worker_state = {}
        self.built_arch = None
        restarting = bool(e.get("restarting"))
        if restarting:
            self._reload_after_restart = bool(self.current_path or self.current_project)
            self.engine_label.setText("Engine: restarting…")
        else:
            self.engine_label.setText("Engine: stopped")
        text = engine_died((e.get("fields") or {}).get("exit_code"), restarting)
        self.show_error(text, e.get("detail", ""))
        self._update_controls()

    def _on_edge_hovered(self, info: Any) -> None:
        if info is None:
            self.statusBar().clearMessage()
            return
        layer, i, j, score = info
        self.statusBar().showMessage(
            self.network_view.describe_edge(self.network_view.net_geometry.index_of(layer, i, j)))
