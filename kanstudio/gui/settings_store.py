"""Where the app keeps its preferences (window layout, recent files): QSettings.

``KANSTUDIO_SETTINGS_DIR`` redirects them to ``<dir>/kanstudio.ini`` (tests use a temporary
folder so they never touch, or depend on, the user's real settings).
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

__all__ = ["app_settings", "recent_files", "add_recent_file", "MAX_RECENT", "remember_folder",
           "save_start", "inside_the_app"]

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


def inside_the_app(folder: Path) -> bool:
    """The installed package or its bundled samples: no place for the user's files."""
    from kanstudio.gui.samples import sample_dir

    app_folders = [Path(__file__).resolve().parents[1]]
    samples = sample_dir()
    if samples is not None:
        app_folders.append(samples.resolve())
    folder = folder.resolve()
    return any(folder.is_relative_to(f) for f in app_folders)


def remember_folder(settings: QSettings, path: str) -> None:
    """The folder of a file the user opened or saved, where the next Save dialog starts
    (the app's own folders, e.g. a bundled sample's, are not remembered)."""
    folder = Path(path).resolve().parent
    if not inside_the_app(folder):
        settings.setValue("last_folder", str(folder))


def save_start(settings: QSettings, file_name: str) -> str:
    """Where a Save dialog starts: ``file_name`` in the user's last folder, or in their home
    folder (never inside the installed package)."""
    value = settings.value("last_folder", "")
    folder = Path(str(value)) if value else None
    if folder is None or not folder.is_dir() or inside_the_app(folder):
        folder = Path.home()
    return str(folder / Path(file_name).name)
