"""A message bar above the network view: errors and notices in words, never tracebacks.

The technical detail (a worker traceback) is kept behind a "Details" button for bug reports.
Every message shown is also kept in :attr:`MessageBar.history`.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

__all__ = ["MessageBar", "Message"]

_STYLES = {
    "error": "background:#fde8e8; border:1px solid #e0a0a0; color:#7a1010;",
    "warning": "background:#fff4d6; border:1px solid #e6c36a; color:#6b4a00;",
    "info": "background:#e8f1fd; border:1px solid #9cbfe8; color:#123a6b;",
}
_MARKS = {"error": "✖", "warning": "⚠", "info": "ℹ"}


@dataclass
class Message:
    kind: str  # error | warning | info
    text: str
    detail: str = ""


class MessageBar(QFrame):
    """Shows the latest message; hidden when there is none or the user closes it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messageBar")
        self.history: list[Message] = []
        self.label = QLabel()
        self.label.setObjectName("messageText")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_button = QPushButton("Details")
        self.details_button.setCheckable(True)
        self.details_button.toggled.connect(self._toggle_details)
        self.close_button = QPushButton("✕")
        self.close_button.setToolTip("Dismiss")
        self.close_button.setFixedWidth(28)
        self.close_button.clicked.connect(self.dismiss)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setMaximumHeight(160)
        self.details.hide()
        row = QHBoxLayout()
        row.addWidget(self.label, 1)
        row.addWidget(self.details_button)
        row.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(self.details)
        self.hide()

    def show_message(self, kind: str, text: str, detail: str = "") -> None:
        message = Message(kind, text, detail)
        self.history.append(message)
        self.setStyleSheet(f"#messageBar {{{_STYLES.get(kind, _STYLES['info'])}}}")
        self.label.setText(f"{_MARKS.get(kind, '')} {text}")
        self.details.setPlainText(detail)
        self.details_button.setVisible(bool(detail))
        self.details_button.setChecked(False)
        self.show()

    def dismiss(self) -> None:
        self.hide()

    def current_text(self) -> str:
        """The message on show ('' when the bar is hidden)."""
        return self.history[-1].text if self.history and not self.isHidden() else ""

    def _toggle_details(self, on: bool) -> None:
        self.details.setVisible(on)
