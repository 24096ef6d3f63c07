"""Live loss curves: train and test RMSE against the model's step count, log scale."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

__all__ = ["LossPlot"]


class _LogAxis(pg.AxisItem):
    """Log-scale axis that labels only 1, 2 and 5 times a power of ten (plainly, 0.02
    rather than 2·10⁻²): pyqtgraph labels every minor tick, and they overlap."""

    def logTickStrings(self, values: list[float], scale: float,  # noqa: N802
                       spacing: float) -> list[str]:
        out = []
        for v in values:
            value = 10.0 ** float(v) * scale
            mantissa = value / 10.0 ** np.floor(np.log10(value)) if value > 0 else 0.0
            keep = any(abs(mantissa - m) < 1e-6 for m in (1.0, 2.0, 5.0))
            out.append(f"{value:.3g}" if keep else "")
        return out


class LossPlot(QWidget):
    """Appends progress events; one ``setData`` per curve per batch of events."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.plot = pg.PlotWidget(background="w", axisItems={"left": _LogAxis("left")})
        self.plot.setObjectName("lossPlot")
        self.plot.setMinimumHeight(140)  # below this the log axis' labels overlap
        self.plot.setLogMode(x=False, y=True)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "RMSE (log scale)")
        self.plot.addLegend(offset=(-10, 10))
        self.plot.setMouseEnabled(x=True, y=False)
        # Ranges move in coarse steps (the run's length, half decades of RMSE) instead of
        # auto-ranging on every update: the axes then keep their cached drawings.
        self.plot.disableAutoRange()
        self._ranges: tuple[float, float, float, float] | None = None
        self._follow = True
        self.plot.getViewBox().sigRangeChangedManually.connect(self._user_zoomed)
        left = self.plot.getAxis("left")
        left.enableAutoSIPrefix(False)  # "×0.001" beside log ticks confuses more than helps
        self.train_curve = self.plot.plot(pen=pg.mkPen((25, 95, 190), width=2), name="train")
        self.test_curve = self.plot.plot(pen=pg.mkPen((215, 110, 20), width=2,
                                                      style=pg.QtCore.Qt.PenStyle.DashLine),
                                         name="test")
        self.summary = QLabel("No training yet.")
        self.summary.setObjectName("lossSummary")
        # wrapped, so a long summary never widens the dock (and the window past the screen)
        self.summary.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.summary)
        self.steps = np.zeros(0)
        self.train = np.zeros(0)
        self.test = np.zeros(0)
        self.units = "target"
        self.current: dict[str, Any] | None = None  # see set_current

    def clear(self) -> None:
        self.steps, self.train, self.test = np.zeros(0), np.zeros(0), np.zeros(0)
        self.train_curve.setData([], [])
        self.test_curve.setData([], [])
        self.summary.setText("No training yet.")
        self.current = None
        self._ranges = None
        self._follow = True

    def _user_zoomed(self, *args: Any) -> None:
        self._follow = False  # until the next clear(), the user's view stays

    def set_target(self, name: str | None) -> None:
        self.plot.setLabel("left", f"RMSE of {name} (log scale)" if name else "RMSE")

    def add_progress(self, events: list[dict[str, Any]]) -> None:
        """Append a batch of progress events (a continued run keeps counting steps)."""
        if not events:
            return
        steps = np.array([e["step"] for e in events], dtype=np.float64)
        if self.steps.size and steps[0] <= self.steps[-1]:
            # The model went back (undo, new model): keep the curve monotonic in steps.
            keep = self.steps < steps[0]
            self.steps, self.train, self.test = (self.steps[keep], self.train[keep],
                                                 self.test[keep])
        self.current = None  # training: the network changes with every step
        self.steps = np.concatenate([self.steps, steps])
        self.train = np.concatenate([self.train, [e["train_loss"] for e in events]])
        self.test = np.concatenate([self.test, [e["test_loss"] for e in events]])
        self.units = events[-1].get("loss_units", "target")
        last = events[-1]
        self._redraw(run_end=float(last["step"] - last["run_step"] + last["steps"]))
        self._summarize()

    def set_history(self, losses: dict[str, Any]) -> None:
        """Show a model's whole loss curve (``step``, ``train_loss``, ``test_loss`` arrays
        and ``loss_units``): after undo or redo, the curve of the model they restored."""
        self.clear()
        self.steps = np.asarray(losses.get("step", []), dtype=np.float64)
        self.train = np.asarray(losses.get("train_loss", []), dtype=np.float64)
        self.test = np.asarray(losses.get("test_loss", []), dtype=np.float64)
        self.units = losses.get("loss_units", "target")
        if self.steps.size:
            self._redraw(run_end=float(self.steps[-1]))
            self._summarize()

    def set_current(self, metrics: dict[str, Any] | None) -> None:
        """The current network's RMSE on the training and the held-out rows (the engine's
        ``Session.metrics``, the numbers the formula panel's Network row shows too), or
        None: the summary then reads the curve's last step."""
        self.current = metrics
        if self.steps.size:
            self._summarize()

    def _summarize(self) -> None:
        scaled = " (scaled units)" if self.units == "scaled" else ""
        head = f"step {int(self.steps[-1])} of the model's training"
        now = self.current or {}
        if now.get("test_rmse") is not None or now.get("train_rmse") is not None:
            # the network as it is now: edits since the last step (prune, lock) count
            self.summary.setText(
                f"{head};\nnetwork now: train RMSE {_num(now.get('train_rmse'))}   "
                f"test RMSE {_num(now.get('test_rmse'))} (held-out rows)")
            return
        # during a run: the step's own losses (the held-out rows, or a sample of them)
        self.summary.setText(f"{head};\ntrain RMSE {self.train[-1]:.4g}   test RMSE "
                             f"{self.test[-1]:.4g} (held-out rows){scaled}")

    def _redraw(self, run_end: float) -> None:
        # Log axes cannot show 0 or NaN; clip to the smallest positive double.
        tiny = np.finfo(np.float64).tiny
        for curve, values in ((self.train_curve, self.train), (self.test_curve, self.test)):
            ok = np.isfinite(values)
            curve.setData(self.steps[ok], np.maximum(values[ok], tiny))
        both = np.concatenate([self.train, self.test])
        both = both[np.isfinite(both) & (both > 0)]
        if not self._follow or both.size == 0:
            return
        lo = np.floor(2 * np.log10(both.min())) / 2  # half decades, in log10 units
        hi = np.ceil(2 * np.log10(both.max())) / 2
        ranges = (0.0, max(run_end, float(self.steps[-1])), float(lo), float(max(hi, lo + 0.5)))
        if ranges != self._ranges:
            self._ranges = ranges
            self.plot.setXRange(ranges[0], ranges[1], padding=0.02)
            self.plot.setYRange(ranges[2], ranges[3], padding=0.02)


def _num(value: Any) -> str:
    return "—" if value is None else f"{value:.4g}"
