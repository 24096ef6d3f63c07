"""Work-arounds for defects of the Qt binding, applied once when ``kanstudio.gui`` loads.

PySide6 6.12.0 on Python <= 3.11 drops references it does not own:

- ``SignalInstance.emit`` returns ``True`` without taking a reference to it, so every
  signal emitted from Python (ours and pyqtgraph's: each ``setData`` emits one) loses one
  reference to ``True``;
- a Python item model whose ``data()`` returns ``None`` (the usual "no value") loses one
  reference to ``None`` each time a view asks for that cell.

A few hundred such calls later the interpreter aborts ("Fatal Python error: bool_dealloc"
or "none_dealloc"). Python 3.12 made these singletons immortal; where the defect is
measured we do the same here: their reference counts are raised far beyond what any
session can drop. Nothing is changed when the binding behaves.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["leaky_singletons", "protect", "apply"]

_HEADROOM = 1 << 40  # references added: decades of calls at thousands per second
_applied = False


def leaky_singletons() -> list[object]:
    """The singletons (True, None) that the binding is measured to lose references to."""
    from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, Qt, Signal

    class _Probe(QObject):
        fired = Signal()

    class _Model(QAbstractListModel):
        def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008, N802
            return 1

        def data(self, index, role=Qt.ItemDataRole.DisplayRole) -> None:
            return None

    leaky: list[object] = []
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(4):
        probe.fired.emit()
    if sys.getrefcount(True) < before:
        leaky += [True, False]
    model = _Model()
    index = model.index(0, 0)
    before = sys.getrefcount(None)
    for _ in range(4):
        index.data()
    if sys.getrefcount(None) < before:
        leaky.append(None)
    return leaky


def protect(value: object) -> None:
    """Give ``value`` so many references that it can never be freed."""
    count = ctypes.c_ssize_t.from_address(id(value))  # CPython: ob_refcnt comes first
    expected = sys.getrefcount(value) - 1  # getrefcount's own argument adds one
    if abs(count.value - expected) <= 2:
        count.value += _HEADROOM
        return
    incref = ctypes.pythonapi.Py_IncRef  # an unusual layout: the official, slower way
    incref.argtypes = [ctypes.py_object]
    for _ in range(1 << 20):
        incref(value)


def apply() -> None:
    global _applied
    if _applied or sys.version_info >= (3, 12):
        return
    _applied = True
    for value in leaky_singletons():
        protect(value)
