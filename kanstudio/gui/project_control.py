"""Saving the session as a ``.kstudio`` project, the unsaved-changes prompt, and image export
of the views. The worker writes the project (the same code as the CLI's ``--save``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog, QMessageBox

__all__ = ["ProjectControl", "export_view", "AUTOSAVE_MS"]

AUTOSAVE_MS = 60_000  # unsaved work is written to the recovery file this often


def export_view(widget: Any, path: str) -> None:
    """A view (network, loss, inspector or formula plot) as .png or .svg, as drawn now.

    Qt draws the widget itself: pyqtgraph's SVG exporter fails on curves that hold NaN
    breaks, which every network drawing does."""
    from PySide6.QtCore import QRect, QSize
    from PySide6.QtGui import QPainter
    from PySide6.QtSvg import QSvgGenerator

    if path.lower().endswith(".svg"):
        size = widget.size()
        generator = QSvgGenerator()
        generator.setFileName(path)
        generator.setSize(QSize(size.width(), size.height()))
        generator.setViewBox(QRect(0, 0, size.width(), size.height()))
        generator.setTitle("KAN Studio")
        painter = QPainter(generator)
        try:
            widget.render(painter)
        finally:
            painter.end()
    elif not widget.grab().save(path):
        raise OSError(f"could not write {Path(path).name}")


class ProjectControl:
    def __init__(self) -> None:
        self.close_after_save = False
        # What the prompts ask; tests replace them with functions that answer.
        self.unsaved_prompt = self._ask_unsaved
        self.recovery_prompt = self._ask_recover
        self.recovery_path = Path(self.settings.fileName()).parent / "recovery.kstudio"
        self._recovery_offered = False
        self._restoring = False
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()

    def save_project(self) -> bool:
        """Save to the current project (asks for a path the first time); False if not sent."""
        if self.current_project:
            return self.save_project_to(self.current_project)
        return self.save_project_as()

    def save_project_as(self) -> bool:
        start = self.current_project or (str(Path(self.current_path).with_suffix(".kstudio"))
                                         if self.current_path else "untitled.kstudio")
        path, _ = QFileDialog.getSaveFileName(self, "Save Project", start,
                                              "KAN Studio projects (*.kstudio)")
        if not path:
            return False
        if not path.lower().endswith(".kstudio"):
            path += ".kstudio"
        return self.save_project_to(path)

    def save_project_to(self, path: str) -> bool:
        if not self.worker_state.get("has_data"):
            self.show_error("Nothing to save yet: open a CSV file first.")
            return False
        self.bridge.send("save", path=str(path))
        self.statusBar().showMessage(f"Saving {Path(path).name}…")
        return True

    def _on_saved(self, e: dict[str, Any]) -> None:
        path = e["path"]
        if Path(path) == self.recovery_path:
            return  # an autosave: the user's project and its unsaved state are unchanged
        self.current_project = path
        self.dirty = False
        self.setWindowTitle(f"KAN Studio — {Path(path).name}")
        self._remember(path)
        self.statusBar().showMessage(f"Saved {Path(path).name}.", 6000)
        if self.close_after_save:
            self.close()

    def project_opened(self) -> None:
        self.dirty = False
        if self._restoring:  # the recovery file is no project of the user's: Save asks where
            self._restoring = False
            self.current_project = None
            self.dirty = True
            self.setWindowTitle("KAN Studio — recovered session (not saved)")

    # ------------------------------------------------------------------ recovery
    def autosave(self) -> None:
        """Write unsaved work to the recovery file (offered again after a crash)."""
        if self.dirty and self.fitted and not self.training and self.bridge.is_ready:
            self.recovery_path.parent.mkdir(parents=True, exist_ok=True)
            self.bridge.send("save", path=str(self.recovery_path))

    def offer_recovery(self) -> None:
        """Once, when the engine is ready: restore the work a crash left behind?"""
        if self._recovery_offered:
            return
        self._recovery_offered = True
        if not self.recovery_path.is_file():
            return
        if self.recovery_prompt():
            self._restoring = True
            self.open_project(str(self.recovery_path))
        else:
            self.recovery_path.unlink(missing_ok=True)

    def _ask_recover(self) -> bool:
        answer = QMessageBox.question(
            self, "Restore unsaved work?",
            "KAN Studio did not close normally last time. Restore the work it saved "
            "automatically?")
        return answer == QMessageBox.StandardButton.Yes

    # ------------------------------------------------------------------ closing
    def _ask_unsaved(self) -> str:
        box = QMessageBox(QMessageBox.Icon.Question, "Unsaved changes",
                          "The model has changes that are not saved in a project.",
                          QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                          | QMessageBox.StandardButton.Cancel, self)
        box.setInformativeText("Save them before closing?")
        answer = box.exec()
        return {QMessageBox.StandardButton.Save: "save",
                QMessageBox.StandardButton.Discard: "discard"}.get(
            QMessageBox.StandardButton(answer), "cancel")

    def may_close(self) -> bool:
        """False when the user chose to keep the window (or to save first)."""
        if not self.dirty or not self.bridge.is_ready:
            self.recovery_path.unlink(missing_ok=True)  # a clean exit leaves no recovery
            return True
        answer = self.unsaved_prompt()
        if answer == "discard":
            self.recovery_path.unlink(missing_ok=True)
            return True
        if answer == "save":  # the window closes when the worker says it is saved
            self.close_after_save = self.save_project()
        return False

    # ------------------------------------------------------------------ images
    def export_image(self, which: str) -> None:
        widget = {"network": self.network_view, "loss": self.loss_plot.plot,
                  "inspector": self.inspector.plot, "formula": self.formula_panel.plot}[which]
        path, _ = QFileDialog.getSaveFileName(self, "Export Image", f"{which}.png",
                                              "PNG image (*.png);;SVG image (*.svg)")
        if path:
            try:
                export_view(widget, path)
            except Exception as exc:  # noqa: BLE001 - report, never crash the session
                self.show_error(f"Could not export the image: {exc}")
                return
            self.statusBar().showMessage(f"Exported {Path(path).name}.", 6000)
