"""What the app says, and where: the message catalogue and the message bar.

The catalogue (:func:`error_text` and the functions and constants below it) is the one
place the app's wording for errors and notices lives. Errors come from the worker as events
with a ``kind`` and ``fields`` (:class:`kanstudio.errors.EngineError`); the catalogue words
a kind it knows from its fields, and shows the engine's own one-line ``message`` for the
rest (refusals already written for the user: a bad CSV, a setting out of range). Nothing in
the app parses an engine message's text.

The message bar above the network view shows errors and notices in words, never
tracebacks; the technical detail is kept behind a "Details" button for bug reports. Every
message shown is also kept in :attr:`MessageBar.history`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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

__all__ = ["MessageBar", "Message", "error_text", "is_notice", "formula_not_symbolic",
           "engine_died", "discover_ended", "discovered_formula", "approximate_badge",
           "ENGINE_NOT_STARTED", "ENGINE_RESTARTED", "FORMULA_NOT_YET"]

_EDGES_SHOWN = 8  # edges named in a message before "and N more"


# ---------------------------------------------------------------------------- catalogue
def _edge_list(edges: Sequence[Sequence[int]]) -> str:
    shown = ", ".join(str(tuple(e)) for e in edges[:_EDGES_SHOWN])
    more = f" and {len(edges) - _EDGES_SHOWN} more" if len(edges) > _EDGES_SHOWN else ""
    return shown + more


def formula_not_symbolic(edges: Sequence[Sequence[int]]) -> str:
    """The formula needs every active edge symbolic; these are still numeric."""
    return (f"{len(edges)} edge(s) are still numeric splines: {_edge_list(edges)}. Lock them "
            "in the Edge Inspector, use Model ▸ Auto-symbolic, or prune them; then the "
            "formula appears here.")


def _out_of_memory(fields: dict[str, Any]) -> str:
    return (f"Out of memory while {fields.get('action', 'working')}: use a smaller network, "
            "a smaller grid or fewer rows.")


def _internal(fields: dict[str, Any]) -> str:
    text = fields.get("text")
    what = fields.get("exception", "error") + (f": {text}" if text else "")
    return (f"Internal error while {fields.get('action', 'working')} ({what}). The session "
            "is kept; try again, or change the settings.")


def engine_died(exit_code: int | None, restarting: bool) -> str:
    code = "" if exit_code is None else f" (exit code {exit_code})"
    if restarting:
        return (f"The training engine stopped unexpectedly{code}. It is being restarted; the "
                "data will be loaded again.")
    return (f"The training engine stopped unexpectedly{code}. It could not be kept running, "
            "so training is off. Check that torch works (python -c \"import torch\"), then "
            "restart KAN Studio.")


def _not_started(fields: dict[str, Any]) -> str:
    return f"The training engine has not started after {fields.get('seconds', 0):.0f} s."


def discover_ended(reason: str, stage: str, seconds: float) -> str:
    """Discover's end, before its formula is known (that is said when it arrives)."""
    return f"Discover {reason} (last stage: {stage}) after {seconds:.0f} s."


def _r2(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def discovered_formula(status: str | None, lines: Sequence[str], data_r2: float | None,
                       network_r2: float | None) -> tuple[str, str]:
    """(message bar text, status bar text) once Discover's formula has arrived: a verified
    formula is announced as the result; an approximate one says so, with both R²."""
    shown = "; ".join(lines)
    if status == "verified":
        return ("Discover finished with a verified formula (it reproduces the network on "
                "the held-out rows). The formula panel shows it and the other formulas "
                "found.", f"Discover finished: {shown}")
    return (f"Discover finished, but its formula is approximate: R² {_r2(data_r2)} against "
            f"the held-out data, {_r2(network_r2)} against the network (verified means it "
            "reproduces the network). Compare it with the other formulas found in the "
            "formula panel before using it.",
            f"Discover finished with an approximate formula: {shown}")


def approximate_badge(data_r2: float | None, network_r2: float | None,
                      reason: str = "") -> str:
    """The formula panel's badge for a formula that is not verified, with why: with both
    R² at 1.0000 the badge alone reads as a contradiction."""
    text = (f"APPROXIMATE — R² {_r2(data_r2)} against the held-out data, "
            f"{_r2(network_r2)} against the network")
    return f"{text}. Why: {reason}" if reason else text


FORMULA_NOT_YET = ("The formula appears here once every edge is symbolic (lock edges, or "
                   "Model ▸ Auto-symbolic).")
ENGINE_NOT_STARTED = (
    "The worker process is running but has not reported ready. If this persists, restart "
    "KAN Studio; from a terminal, `kanstudio fit` on a sample shows whether torch works on "
    "this machine.")
ENGINE_RESTARTED = ("The training engine was restarted and the data loaded again; the model "
                    "was lost, train again.")

# kind -> wording from the error's fields. Kinds not listed (a refusal such as "refused",
# "bad_field", a data error) are shown with the engine's own one-line message.
_ERRORS: dict[str, Callable[[dict[str, Any]], str]] = {
    "formula_not_symbolic": lambda f: formula_not_symbolic(f.get("edges") or []),
    "out_of_memory": _out_of_memory,
    "internal": _internal,
    "worker_died": lambda f: engine_died(f.get("exit_code"), bool(f.get("restarting"))),
    "not_started": _not_started,
    "search_unavailable": lambda f: (
        "Expression search is not available on this machine; the function library works "
        f"as before. {f.get('reason', '')}".strip()),
}
# Kinds that describe a normal state of the work, shown as information, not as a failure.
_NOTICES = ("formula_not_symbolic",)


def error_text(e: dict[str, Any]) -> str:
    """The words for an ``error`` event: its kind's catalogue entry, else its message."""
    wording = _ERRORS.get(str(e.get("kind")))
    if wording is not None:
        return wording(e.get("fields") or {})
    return str(e.get("message") or "Something went wrong.")


def is_notice(e: dict[str, Any]) -> bool:
    """An ``error`` event that is a normal state of the work (say it as information)."""
    return e.get("kind") in _NOTICES


# ---------------------------------------------------------------------------- message bar

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
