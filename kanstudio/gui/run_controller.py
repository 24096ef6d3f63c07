"""Run controls (Train, Pause, Step, Stop, New Model) and the engine's session events.

The GUI never touches the model: it sends commands and redraws from events (design.md
§4.4). This controller sends the training commands, and turns the worker's ``ready``,
``loaded``, ``state``, ``progress``, ``done``, ``error`` and ``died`` events into the
window's state (:class:`~kanstudio.gui.state.AppState`) and what the panels show.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QTimer

from kanstudio.defaults import FINE_TUNE_STEPS, default_width
from kanstudio.gui.menus import Actions
from kanstudio.gui.messages import ENGINE_RESTARTED, engine_died, error_text
from kanstudio.gui.state import EngineState
from kanstudio.gui.training_panel import ARCHITECTURE_KEYS, width_layout
from kanstudio.gui.views import Views

__all__ = ["RunController"]

PROGRESS_REFRESH_MS = 200

# Settings the panel hands to the worker's SessionSettings.
_SETTING_KEYS = (*ARCHITECTURE_KEYS, "steps", "opt", "lr", "lamb")


class RunController(QObject):
    """Owns the run controls; keeps ``state.engine`` as the worker reports it."""

    def __init__(self, views: Views, actions: Actions) -> None:
        super().__init__(views.window)
        self.v = views
        self.state = views.state
        self.actions = actions
        self.reload_after_restart = False
        self.loaded_roles: tuple | None = None  # (path, inputs, targets, drop) the engine has
        self.devices_text = ""
        self.adopt_settings = False  # next state's settings come from an opened project
        self.run_label = "this run"  # what the progress bar counts: "Fine-tune" for one
        # Loss plot and progress bar redraw at a few Hz: their axes and styles cost more
        # to paint than the information gained at the worker's step rate.
        self.pending_progress: list[dict[str, Any]] = []
        self.progress_timer = QTimer(self)
        self.progress_timer.setSingleShot(True)
        self.progress_timer.setInterval(PROGRESS_REFRESH_MS)
        self.progress_timer.timeout.connect(self.flush_progress)
        self._connect()
        self.state.observe(("engine", "built_arch", "data_ok"), self.update_controls)
        self.update_controls()

    def _connect(self) -> None:
        b, a = self.v.bridge, self.actions
        b.ready.connect(self._on_ready)
        b.loaded.connect(self._on_loaded)
        b.state.connect(self._on_state)
        b.progress.connect(self.add_progress)
        b.snapshot.connect(self.v.network_view.set_snapshot)
        b.done.connect(self._on_done)
        b.error.connect(self._on_error)
        b.died.connect(self._on_died)
        dp, tp = self.v.data_panel, self.v.training_panel
        dp.data_ready.connect(self._on_data_ready)
        dp.data_blocked.connect(self._on_data_blocked)
        for signal, action, slot in ((tp.train_clicked, a.train, self.train),
                                     (tp.pause_clicked, a.pause, self.toggle_pause),
                                     (tp.step_clicked, a.step, self.step),
                                     (tp.stop_clicked, a.stop, self.stop),
                                     (tp.new_model_clicked, a.new_model, self.new_model)):
            signal.connect(slot)
            action.triggered.connect(lambda _checked=False, s=slot: s())
        tp.settings_edited.connect(self._on_settings_edited)
        self.v.network_view.edge_hovered.connect(self._on_edge_hovered)

    # ------------------------------------------------------------------ engine
    def start_worker(self) -> None:
        self.v.engine_label.setText("Engine: starting…")
        self.v.bridge.start()

    @property
    def training(self) -> bool:
        return self.state.engine.busy

    @property
    def paused(self) -> bool:
        return self.state.engine.paused

    def can_train(self) -> bool:
        return (self.state.data_ok and self.v.bridge.is_ready and self.state.engine.has_data
                and self.v.training_panel.validate_width() is not None)

    def update_controls(self) -> None:
        engine, tp, a = self.state.engine, self.v.training_panel, self.actions
        same_arch = self.state.built_arch == tp.architecture()
        tp.set_controls(can_train=self.can_train(), training=engine.busy, paused=engine.paused,
                        has_model=engine.has_model,
                        continue_training=engine.fitted and same_arch)
        editing = bool(engine.editing)
        pausable = engine.training  # a training run; not Discover or an edit
        tp.pause_button.setEnabled(pausable)
        tp.stop_button.setText("Cancel" if editing else "Stop")
        tp.stop_button.setToolTip(
            "Cancel the edit: the model stays as it was" if editing else
            "Stop training; the model keeps what it learned (Shift+F5)")
        a.train.setEnabled(tp.train_button.isEnabled())
        a.pause.setEnabled(pausable)
        a.step.setEnabled(tp.step_button.isEnabled())
        a.stop.setEnabled(engine.busy)
        a.new_model.setEnabled(tp.new_button.isEnabled())

    # ------------------------------------------------------------------ run controls
    def _send_settings(self) -> dict[str, Any] | None:
        tp = self.v.training_panel
        s = tp.settings()
        if s["width"] is None:
            self.v.notify.error(tp.width_error.text() or "Width is not valid.")
            return None
        self.v.bridge.send("set_settings", settings={k: s[k] for k in _SETTING_KEYS})
        return s

    def _ensure_model(self, s: dict[str, Any]) -> None:
        arch = {k: s[k] for k in ARCHITECTURE_KEYS}
        if not self.state.engine.has_model or arch != self.state.built_arch:
            self.v.bridge.send("new_model", width=s["width"])
            self.state.built_arch = arch
            self.v.loss_plot.clear()

    def _start_run(self, command: str) -> bool:
        """Send the panel's settings (building the model they describe, if new) and start
        a run with ``command`` (train or step); False when the settings do not allow it."""
        if not self.can_train():
            return False
        s = self._send_settings()
        if s is None:
            return False
        self._ensure_model(s)
        self.v.bridge.send(command, steps=s["steps"], opt=s["opt"], lr=s["lr"],
                           lamb=s["lamb"])
        return True

    def train(self) -> None:
        if self.training or not self._start_run("train"):
            return
        self.run_label = "this run"
        self.expect_state(training=True, paused=False)
        self.v.notify.status("Training…")

    def fine_tune(self) -> None:
        """A short fine-tune of the trained model: FINE_TUNE_STEPS L-BFGS steps without
        sparsity or grid updates (the locked edges' few parameters converge in a few
        steps), whatever the Steps value says; gated like Train."""
        if self.training or not self.state.engine.fitted or not self.can_train():
            return
        # L-BFGS's own step length (its line search scales it), not a rate set for Adam
        self.v.bridge.send("train", steps=FINE_TUNE_STEPS, opt="lbfgs", lr=1.0, lamb=0.0,
                           update_grid=False)
        self.run_label = "Fine-tune"
        self.expect_state(training=True, paused=False)
        self.v.notify.status(f"Fine-tuning ({FINE_TUNE_STEPS} steps)…")

    def toggle_pause(self) -> None:
        if not self.training:
            return
        resume = self.paused
        self.v.bridge.send("resume" if resume else "pause")
        self.expect_state(paused=not resume)

    def step(self) -> None:
        if self.training:
            self.v.bridge.send("step")
        elif not self._start_run("step"):
            return
        else:
            self.run_label = "this run"
        self.expect_state(training=True, paused=True)

    def stop(self) -> None:
        if self.training:
            self.v.bridge.send("stop")

    def new_model(self) -> None:
        if self.training or not self.can_train():
            return
        s = self._send_settings()
        if s is None:
            return
        self.state.built_arch = None
        self._ensure_model(s)
        self.v.notify.status("New, untrained model.", 5000)

    def expect_state(self, **fields: Any) -> None:
        """Show the state a command leads to at once; the worker's ``state`` confirms it."""
        self.state.engine = self.state.engine.but(**fields)

    # ------------------------------------------------------------------ data
    def _on_data_ready(self, roles: Any, drop: dict[str, bool]) -> None:
        st = self.state
        key = (st.current_path, tuple(roles.inputs), tuple(roles.targets),
               tuple(sorted(drop.items())))
        n_in, n_out = len(roles.inputs), len(roles.targets)
        self.v.training_panel.set_data_shape(n_in, n_out, default_width(n_in, n_out))
        if key != self.loaded_roles and st.current_path:
            if st.engine.has_model and self.loaded_roles is not None:
                self.v.notify.info("The columns changed, so training starts again from a "
                                   "new model.")
            self.loaded_roles = key
            st.engine = st.engine.but(has_data=False, has_model=False, fitted=False)
            st.built_arch = None
            self.v.network_view.clear_network()  # the old model's curves and locks go too
            self.v.loss_plot.clear()
            self.v.loss_plot.set_target(", ".join(roles.targets))
            self.send_load()
        self.draw_planned_network()
        st.data_ok = True
        self.update_controls()

    def send_load(self) -> None:
        if self.loaded_roles is None:
            return
        path, inputs, targets, drop = self.loaded_roles
        self.v.bridge.send("load", path=path, inputs=list(inputs), target=list(targets),
                           **dict(drop))

    def forget_loaded_data(self) -> None:
        """A file is opened (again): the next columns chosen always reload the engine."""
        self.loaded_roles = None

    def _on_data_blocked(self, message: str) -> None:
        self.state.data_ok = False
        self.v.notify.status(f"Data: {message}", 10000)
        roles = self.v.data_panel.roles()
        if roles.inputs and roles.targets:  # still show what would be trained
            n_in, n_out = len(roles.inputs), len(roles.targets)
            self.v.training_panel.set_data_shape(n_in, n_out, default_width(n_in, n_out))
            self.draw_planned_network()
        self.update_controls()

    def draw_planned_network(self) -> None:
        """Before a model exists, draw the architecture the panel describes."""
        if self.state.engine.fitted:
            return
        width = self.v.training_panel.validate_width()
        roles = self.v.data_panel.roles()
        if width is not None and self.v.data_panel.table is not None:
            nodes, arity = width_layout(width)
            self.v.network_view.set_structure(nodes, roles.inputs, roles.targets,
                                              mult_arity=arity)

    def _on_settings_edited(self) -> None:
        self.draw_planned_network()
        self.update_controls()

    # ------------------------------------------------------------------ worker events
    def _on_ready(self, e: dict[str, Any]) -> None:
        self.v.training_panel.set_devices(list(e.get("devices", [])))
        self.devices_text = ", ".join(d.upper() for d in e.get("devices", []))
        self.v.engine_label.setText(f"Engine: ready ({self.devices_text})")
        if self.reload_after_restart:
            self.reload_after_restart = False
            if self.state.current_project:
                self.v.bridge.send("open_project", path=self.state.current_project)
            else:
                self.send_load()
            self.v.notify.info(ENGINE_RESTARTED)
        self.update_controls()

    def _on_loaded(self, e: dict[str, Any]) -> None:
        if e.get("source") == "project":
            self.loaded_roles = None
            self.state.built_arch = None
            self.adopt_settings = True
            self.v.loss_plot.clear()
            losses = e.get("losses") or {}
            self.v.loss_plot.set_history(losses)  # the saved model's curve
            self.v.training_panel.show_trained(len(losses.get("step", [])))
        self.v.notify.status(
            f"Engine loaded {e['n_samples']:,} rows: {e['n_train']:,} for training, "
            f"{e['n_test']:,} for testing.", 6000)
        self.v.training_panel.set_data_shape(len(e["input_names"]), len(e["target_names"]),
                                             list(e["default_width"]))
        self.draw_planned_network()

    def _on_state(self, e: dict[str, Any]) -> None:
        previous = self.state.engine
        engine = EngineState.from_event(e)
        self.state.engine = engine  # first: what follows reads the new state
        self._follow_model(previous, engine)
        model = engine.model
        if "metrics" in e:  # the model just changed: the loss panel says how it does now
            self.v.loss_plot.set_current(e["metrics"])
        if model and not model.get("fitted"):
            # An untrained model (undo of the first run, New model) has no curves to show.
            self.v.network_view.set_structure(model["width"], model["input_names"],
                                              model["target_names"], force=previous.fitted,
                                              mult_arity=model.get("mult_arity"))
            if previous.fitted and not engine.busy:
                self.v.training_panel.show_trained(0)
        self.v.network_view.set_live(engine.training and not engine.paused)
        if engine.training:
            self.v.engine_label.setText("Engine: paused" if engine.paused else
                                        "Engine: training")
        elif engine.editing or engine.discovering:
            self.v.engine_label.setText("Engine: working")
        elif self.v.bridge.is_ready:
            self.v.engine_label.setText(f"Engine: ready ({self.devices_text})")

    def _follow_model(self, previous: EngineState, engine: EngineState) -> None:
        """The panel follows a model the engine changed (project, prune, undo, refine)."""
        tp, model = self.v.training_panel, engine.model
        before = previous.model
        if self.adopt_settings:
            self.adopt_settings = False
            tp.apply_settings(engine.settings)
            before = None
        built = self.state.built_arch
        # The panel shows the KAN 2.0 notation (what new_model takes), not nodes per level.
        notation = _notation(model)
        if model and _notation(before) != notation and (
                built is None or built.get("width") != notation):
            tp.set_width(notation)
            self.state.built_arch = tp.architecture()
        if model and model.get("fitted") and model.get("grid") != tp.grid.value():
            tp.grid.setValue(int(model["grid"]))  # refine, or its undo
            self.state.built_arch = tp.architecture()

    def add_progress(self, events: list[dict[str, Any]]) -> None:
        """Progress events to draw (at a few Hz): a run's, or Discover's training steps."""
        self.pending_progress.extend(events)
        if not self.progress_timer.isActive():
            self.progress_timer.start()

    def flush_progress(self) -> None:
        events, self.pending_progress = self.pending_progress, []
        if not events:
            return
        self.v.loss_plot.add_progress(events)
        last = events[-1]
        self.v.training_panel.set_progress(last["run_step"], last["steps"],
                                           last.get("steps_per_s"),
                                           last.get("label", self.run_label))

    def drain_progress(self) -> None:
        """Draw the progress still waiting for the timer now, and stop the timer: called
        when a run ends, so that no late step redraws the bar over the end's message."""
        self.progress_timer.stop()
        self.flush_progress()

    def _on_done(self, e: dict[str, Any]) -> None:
        self.drain_progress()
        self.state.last_done = e
        m = e.get("metrics") or {}
        test, r2 = m.get("test_rmse"), m.get("test_r2")
        fit = (f": test RMSE {test:.4g}" + (f", R² {r2:.4f}" if r2 is not None else "")
               + " (held-out rows, network)") if test is not None else ""
        what = "Fine-tune" if self.run_label == "Fine-tune" else "Training"
        if e["reason"] == "finished":
            text = f"{what} finished after {e['steps_done']} steps{fit}."
        elif e["reason"] == "stopped":
            text = f"{what} stopped at step {e['steps_done']} of {e['steps']}{fit}."
        else:
            text = f"{what} ended by an error at step {e['steps_done']}."
        self.v.notify.status(text, 20000)
        self.v.training_panel.set_progress(e["steps_done"], e["steps"], None, self.run_label)

    def _on_error(self, e: dict[str, Any]) -> None:
        if e.get("command") == "formula":
            return  # the formula panel says why not (EditController)
        if e.get("command") == "open_project":
            self.state.pending_project = None
        self.v.notify.error(error_text(e), e.get("detail", ""))

    def _on_died(self, e: dict[str, Any]) -> None:
        self.state.engine = EngineState()
        self.state.built_arch = None
        restarting = bool(e.get("restarting"))
        if restarting:
            self.reload_after_restart = bool(self.state.current_path
                                             or self.state.current_project)
            self.v.engine_label.setText("Engine: restarting…")
        else:
            self.v.engine_label.setText("Engine: stopped")
        text = engine_died((e.get("fields") or {}).get("exit_code"), restarting)
        self.v.notify.error(text, e.get("detail", ""))
        self.update_controls()

    def _on_edge_hovered(self, info: Any) -> None:
        if info is None:
            self.v.notify.clear_status()
            return
        layer, i, j, _score = info
        view = self.v.network_view
        self.v.notify.status(view.describe_edge(view.net_geometry.index_of(layer, i, j)))


def _notation(model: dict[str, Any] | None) -> list[Any] | None:
    """A model summary's width in KAN 2.0 notation (older summaries: nodes per level)."""
    if not model:
        return None
    return model.get("notation") or model.get("width")
