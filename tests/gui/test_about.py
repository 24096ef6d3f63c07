"""Help ▸ About KAN Studio: the version, the app's licence, and every bundled library
with its version and licence, read from the installed metadata."""

from __future__ import annotations

from importlib import metadata

from PySide6.QtWidgets import QApplication

from kanstudio import __version__
from kanstudio.gui.about import AboutDialog, components, licence_of
from kanstudio.gui.app import APP_ID, app_icon, create_application

LIBRARIES = {"Qt", "PySide6", "pyqtgraph", "torch", "numpy", "scipy", "sympy", "pandas",
             "matplotlib", "tqdm"}


def _help_action(window, text: str):
    help_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Help")
    return next(a for a in help_menu.actions() if a.text() == text)


def test_about_box_opens_from_the_help_menu(window, qtbot):
    _help_action(window, "&About KAN Studio").trigger()
    qtbot.waitUntil(lambda: window.findChild(AboutDialog) is not None
                    and window.findChild(AboutDialog).isVisible(), timeout=5000)
    dialog = window.findChild(AboutDialog)
    assert f"KAN Studio {__version__}" in dialog.text.text()
    assert "MIT" in dialog.text.text()
    rows = {name: (version, licence) for name, version, licence in dialog.rows()}
    assert LIBRARIES <= set(rows)
    assert rows["torch"][0] == metadata.version("torch")
    assert rows["numpy"][0] == metadata.version("numpy")
    # licences come from the metadata: torch is BSD-style, numpy BSD-3-Clause (SPDX names)
    assert "BSD" in rows["torch"][1] and "BSD" in rows["numpy"][1]
    assert all(licence and "\n" not in licence for _, licence in rows.values())
    dialog.close()
    qtbot.waitUntil(lambda: window.findChild(AboutDialog) is None, timeout=5000)


def test_every_library_has_a_version_and_a_short_licence(qtbot):
    rows = {c.name: c for c in components()}
    assert LIBRARIES <= set(rows)
    for name in LIBRARIES:
        assert rows[name].version != "unknown", name
        assert rows[name].licence != "unknown", name
        assert len(rows[name].licence) < 120, (name, rows[name].licence)
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == len(rows)


def test_licence_of_prefers_short_fields():
    class Meta(dict):
        def get_all(self, key):
            value = self.get(key)
            return value if isinstance(value, list) else None

    assert licence_of(None) == "unknown"
    assert licence_of(Meta({"License-Expression": "BSD-3-Clause", "License": "x"})) \
        == "BSD-3-Clause"
    assert licence_of(Meta({"License": "MIT"})) == "MIT"
    whole_text = Meta({"License": "Copyright (c) ...\nRedistribution and use ...",
                       "Classifier": ["License :: OSI Approved :: BSD License"]})
    assert licence_of(whole_text) == "BSD"
    assert licence_of(Meta({})) == "unknown"


def test_application_has_the_window_icon(qtbot):
    app = create_application()
    assert QApplication.desktopFileName() == APP_ID
    icon = app.windowIcon()
    assert not icon.isNull()
    sizes = {s.width() for s in icon.availableSizes()}
    assert {16, 32, 48, 256} <= sizes
    assert not app_icon().pixmap(64, 64).isNull()
