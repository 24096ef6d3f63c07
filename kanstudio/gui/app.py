"""Starting the app: QApplication, the main window, then the worker (after the first paint)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from kanstudio import __version__
from kanstudio.gui.icons import APP_ID, app_icon
from kanstudio.gui.settings_store import APPLICATION, ORGANIZATION

__all__ = ["APP_ID", "app_icon", "create_application", "run"]


def create_application(argv: Sequence[str] | None = None) -> QApplication:
    """The QApplication (the existing one when there is one, e.g. under pytest-qt)."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    app.setApplicationDisplayName("KAN Studio")
    app.setApplicationVersion(__version__)
    QGuiApplication.setDesktopFileName(APP_ID)
    app.setWindowIcon(app_icon())
    pg.setConfigOptions(antialias=False, foreground="k", background="w")
    return app  # type: ignore[return-value]


def run(paths: Sequence[str] = ()) -> int:
    app = create_application()
    from kanstudio.gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    # Ctrl+C in the terminal closes the window cleanly (worker shut down, layout saved);
    # the timer lets Python's signal handler run while Qt's event loop waits.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer(window)
    wake.timeout.connect(lambda: None)
    wake.start(250)
    # The worker (and with it torch) starts once the window has been painted.
    QTimer.singleShot(0, window.start_worker)
    for path in paths:
        QTimer.singleShot(0, lambda p=str(path): window.open_path(p))
    return int(app.exec())
