"""Where the app keeps its preferences (window layout, recent files): QSettings.

``KANSTUDIO_SETTINGS_DIR`` redirects them to ``<dir>/kanstudio.ini`` (tests use a temporary
folder so they never touch, or depend on, the user's real settings).
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

__all__ = ["app_settings", "recent_files", "add_recent_file", "MAX_RECENT"]

ORGANIZATION = "KANStudio"
APPLICATION = "kanstudio"
MAX_RECENT = 10


def app_settings() -> QSettings:
    folder = os.environ.get("KANSTUDIO_SETTINGS_DIR")
    if folder:
        return QSettings(str(Path(folder) / "kanstudio.ini"), QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION,
                     APPLICATION)


def recent_files(settings: QSettings) -> list[str]:
    value = settings.value("recent_files", [])
    if isinstance(value, str):  # QSettings returns a lone entry as a plain string
        value = [value]
    return [str(v) for v in (value or []) if v]


def add_recent_file(settings: QSettings, path: str) -> list[str]:
    path = str(Path(path).resolve())
    files = [path] + [f for f in recent_files(settings) if f != path]
    files = files[:MAX_RECENT]
    settings.setValue("recent_files", files)
    return files
