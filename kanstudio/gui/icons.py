"""The application's icon and its freedesktop id (used by the app, the About box, packaging)."""

from __future__ import annotations

from PySide6.QtGui import QIcon

from kanstudio.gui.samples import bundled_dir

__all__ = ["APP_ID", "ICON_SIZES", "app_icon"]

# The freedesktop/AppStream id: the .desktop file's name, the icon's name, the Wayland app id.
APP_ID = "io.github.kanstudio.KANStudio"
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


def app_icon() -> QIcon:
    """The application icon: the rendered PNG sizes plus the SVG (resources/icons).

    Falls back to the icon theme's entry of the same name (an installed desktop
    integration) and is a null icon when neither exists."""
    icons = bundled_dir("resources", f"icons/{APP_ID}.svg")
    icon = QIcon()
    if icons is not None:
        for size in ICON_SIZES:
            png = icons / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
            if png.is_file():
                icon.addFile(str(png))
        icon.addFile(str(icons / "icons" / f"{APP_ID}.svg"))
    return icon if not icon.isNull() else QIcon.fromTheme(APP_ID)
