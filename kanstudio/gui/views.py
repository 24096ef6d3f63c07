"""What the window's controllers work with: its views, the bridge and the state, named.

:class:`Views` is handed to each controller when the window builds it, so a controller's
collaborators are explicit (no reaching into the window for attributes that may not exist
yet). :class:`Notifier` is how controllers speak to the user: the message bar for what
needs reading, the status bar for what passes.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QPlainTextEdit, QStatusBar

from kanstudio.gui.bridge import WorkerBridge
from kanstudio.gui.data_panel import DataPanel
from kanstudio.gui.formula_panel import FormulaPanel
from kanstudio.gui.inspector import EdgeInspector
from kanstudio.gui.loss_plot import LossPlot
from kanstudio.gui.messages import MessageBar
from kanstudio.gui.network_view import NetworkView
from kanstudio.gui.state import AppState
from kanstudio.gui.training_panel import TrainingPanel

__all__ = ["Views", "Notifier"]

STATUS_MARGIN_PX = 40  # the status bar's size grip and its message's padding
STATUS_MIN_PX = 240  # before the window is laid out, its bar reports a tiny width


class Notifier:
    """Errors and notices in the message bar; passing news in the status bar."""

    def __init__(self, bar: MessageBar, status_bar: QStatusBar) -> None:
        self.bar = bar
        self.status_bar = status_bar

    def error(self, text: str, detail: str = "") -> None:
        self.bar.show_message("error", text, detail)
        self.status(text, 15000)

    def info(self, text: str, detail: str = "") -> None:
        self.bar.show_message("info", text, detail)

    def warning(self, text: str, detail: str = "") -> None:
        self.bar.show_message("warning", text, detail)

    def status(self, text: str, ms: int = 0) -> None:
        """Show ``text`` in the status bar, cut to its width (a long formula would run off
        the window); the whole text is then the status bar's tooltip."""
        one_line = " ".join(text.split())
        shown = self._fitted(one_line)
        self.status_bar.showMessage(shown, ms)
        self.status_bar.setToolTip(text if shown != one_line else "")

    def _fitted(self, text: str) -> str:
        bar = self.status_bar
        room = bar.width() - STATUS_MARGIN_PX
        for child in bar.findChildren(QLabel):  # the permanent widgets' share
            if child.isVisible() and child.parent() is bar:
                room -= child.width()
        room = max(room, STATUS_MIN_PX)
        return bar.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, room)

    def clear_status(self) -> None:
        self.status_bar.clearMessage()

    def dismiss(self) -> None:
        self.bar.dismiss()


@dataclass(frozen=True)
class Views:
    window: QMainWindow  # parent of dialogs; its title names the open file
    bridge: WorkerBridge
    state: AppState
    notify: Notifier
    network_view: NetworkView
    data_panel: DataPanel
    training_panel: TrainingPanel
    loss_plot: LossPlot
    inspector: EdgeInspector
    formula_panel: FormulaPanel
    inspector_dock: QDockWidget
    formula_dock: QDockWidget
    engine_label: QLabel
    discover_log: QPlainTextEdit  # Discover's stage log, one line per stage or decision
