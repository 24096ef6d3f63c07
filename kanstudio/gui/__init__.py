"""The desktop app: the only package that imports PySide6 and pyqtgraph.

``kanstudio`` (no command) calls :func:`main`. The GUI process never imports torch: the
training engine runs in a worker process (:mod:`kanstudio.worker`), so the window is on
screen while torch is still importing there.
"""

from __future__ import annotations

from collections.abc import Sequence

from kanstudio.gui import qt_compat

qt_compat.apply()

__all__ = ["main"]


def main(paths: Sequence[str] = ()) -> int:
    """Open the main window (and ``paths``: a CSV or a .kstudio project); returns the exit
    code when the window closes."""
    from kanstudio.gui.app import run

    return run(list(paths))
