"""Help ▸ About KAN Studio: the version, the licence, and the libraries the app bundles.

Versions and licences are read at run time with importlib.metadata, so the box tells the
truth about the environment (or frozen app) it runs in.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from kanstudio import __version__
from kanstudio.gui.icons import app_icon

__all__ = ["AboutDialog", "Component", "components", "licence_of", "show_about"]

UNKNOWN = "unknown"

# (name shown, distribution names to try): the libraries the app is built on.
LIBRARIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("PySide6", ("PySide6", "PySide6_Essentials")),
    ("shiboken6", ("shiboken6",)),
    ("pyqtgraph", ("pyqtgraph",)),
    ("torch", ("torch",)),
    ("numpy", ("numpy",)),
    ("scipy", ("scipy",)),
    ("sympy", ("sympy",)),
    ("pandas", ("pandas",)),
    ("matplotlib", ("matplotlib",)),
    ("tqdm", ("tqdm",)),
    ("numba", ("numba",)),
    ("llvmlite", ("llvmlite",)),
)

# Trove classifiers some packages use instead of an SPDX expression.
_CLASSIFIER_NAMES = {
    "BSD License": "BSD",
    "MIT License": "MIT",
    "Apache Software License": "Apache-2.0",
    "Python Software Foundation License": "PSF-based",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
}


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    licence: str


def licence_of(meta: metadata.PackageMetadata | None) -> str:
    """A short licence name: the SPDX License-Expression, else a one-line License field,
    else the licence classifiers, else "unknown" (some packages put the whole licence
    text in the License field; that is not shown)."""
    if meta is None:
        return UNKNOWN
    expression = (meta.get("License-Expression") or "").strip()
    if expression:
        return expression
    field = (meta.get("License") or "").strip()
    if field and "\n" not in field and len(field) <= 80:
        return field
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or []
                   if c.startswith("License ::") and c.count("::") >= 2]
    if classifiers:
        return ", ".join(_CLASSIFIER_NAMES.get(c, c) for c in classifiers)
    return UNKNOWN


def _distribution(names: tuple[str, ...]) -> tuple[str, metadata.PackageMetadata | None]:
    for name in names:
        try:
            return metadata.version(name), metadata.metadata(name)
        except metadata.PackageNotFoundError:
            continue
    return UNKNOWN, None


def components() -> list[Component]:
    """Qt and the bundled Python libraries, with their versions and licences."""
    rows = []
    for name, dists in LIBRARIES:
        version, meta = _distribution(dists)
        rows.append(Component(name, version, licence_of(meta)))
    pyside = rows[0]
    # Qt's own libraries ship inside the PySide6 wheels, under the same licence terms.
    rows.insert(0, Component("Qt", qVersion(), pyside.licence))
    return rows


class AboutDialog(QDialog):
    """The About box: app name, version, licence, and a table of the bundled libraries."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About KAN Studio")
        icon = QApplication.windowIcon()
        if icon.isNull():
            icon = app_icon()

        header = QHBoxLayout()
        logo = QLabel()
        logo.setPixmap(icon.pixmap(64, 64))
        logo.setAlignment(Qt.AlignmentFlag.AlignTop)
        header.addWidget(logo)
        self.text = QLabel(
            f"<h2>KAN Studio {__version__}</h2>"
            "<p>Discover formulas from data with Kolmogorov–Arnold Networks: open a CSV, "
            "train, watch every edge of the network learn its function, and read off the "
            "formula.</p>"
            "<p>KAN Studio is licensed under the MIT licence. It is built on the libraries "
            "below, each under its own licence.</p>")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        header.addWidget(self.text, 1)

        rows = components()
        self.table = QTableWidget(len(rows), 3)
        self.table.setObjectName("aboutLibraries")
        self.table.setHorizontalHeaderLabels(["Library", "Version", "Licence"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        for row, component in enumerate(rows):
            for column, value in enumerate((component.name, component.version,
                                            component.licence)):
                item = QTableWidgetItem(value)
                item.setToolTip(value)
                self.table.setItem(row, column, item)
        heading = self.table.horizontalHeader()
        heading.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        heading.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        heading.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.table.resizeRowsToContents()
        self.resize(660, 560)

    def rows(self) -> list[tuple[str, str, str]]:
        """The table's contents, as shown (name, version, licence)."""
        return [tuple(self.table.item(r, c).text() for c in range(3))  # type: ignore[misc]
                for r in range(self.table.rowCount())]


def show_about(parent: QWidget | None = None) -> AboutDialog:
    """Open the About box (window-modal, without blocking the caller) and return it."""
    dialog = AboutDialog(parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.open()
    return dialog
