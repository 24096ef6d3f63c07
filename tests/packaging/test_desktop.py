"""Linux desktop integration (issue #7): the .desktop launcher, the AppStream metainfo, the
.kstudio MIME type, the icon set, and the script that installs them per user.

The freedesktop validators run when they are installed (desktop-file-validate,
appstreamcli); the files are parsed here in any case.
"""

from __future__ import annotations

import configparser
import os
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP_ID = "io.github.kanstudio.KANStudio"
LINUX = ROOT / "resources" / "linux"
ICONS = ROOT / "resources" / "icons"
DESKTOP = LINUX / f"{APP_ID}.desktop"
METAINFO = LINUX / f"{APP_ID}.metainfo.xml"
MIME = LINUX / f"{APP_ID}.mime.xml"
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"
PROJECT_TYPE = "application/x-kanstudio-project"
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
INSTALL = ROOT / "packaging" / "linux" / "install-desktop.sh"


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # keys are case-sensitive
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def test_desktop_file_launches_kanstudio_with_a_file():
    entry = _desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Name"] == "KAN Studio"
    assert entry["Exec"] == "kanstudio %f"
    assert entry["Icon"] == APP_ID
    assert entry["Terminal"] == "false"
    mime_types = entry["MimeType"].rstrip(";").split(";")
    assert PROJECT_TYPE in mime_types and "text/csv" in mime_types
    assert "Science" in entry["Categories"].split(";")


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None,
                    reason="desktop-file-validate is not installed")
def test_desktop_file_validates():
    done = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "error" not in (done.stdout + done.stderr).lower()


def test_mime_type_matches_project_files():
    root = ET.parse(MIME).getroot()
    assert root.tag == f"{MIME_NS}mime-info"
    (mime_type,) = root.findall(f"{MIME_NS}mime-type")
    assert mime_type.get("type") == PROJECT_TYPE
    globs = [g.get("pattern") for g in mime_type.findall(f"{MIME_NS}glob")]
    assert globs == ["*.kstudio"]
    # a project is a zip (design.md §4.3)
    assert mime_type.find(f"{MIME_NS}sub-class-of").get("type") == "application/zip"


def test_metainfo_names_the_launcher_and_the_mime_type():
    root = ET.parse(METAINFO).getroot()
    assert root.tag == "component" and root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("project_license") == "MIT"
    assert root.findtext("launchable") == DESKTOP.name
    assert root.findtext("provides/binary") == "kanstudio"
    assert root.findtext("provides/mediatype") == PROJECT_TYPE
    from kanstudio import __version__

    assert root.find("releases/release").get("version") == __version__


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstreamcli is not installed")
def test_metainfo_validates():
    done = subprocess.run(["appstreamcli", "validate", "--no-net", str(METAINFO)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_icon_set_is_complete():
    svg = ET.parse(ICONS / f"{APP_ID}.svg").getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    for size in ICON_SIZES:
        png = ICONS / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        header = png.read_bytes()[:24]
        assert header[:8] == b"\x89PNG\r\n\x1a\n", png
        assert struct.unpack(">II", header[16:24]) == (size, size), png


def test_install_script_installs_and_removes(tmp_path):
    data = tmp_path / "share"
    env = {**os.environ, "HOME": str(tmp_path)}
    subprocess.run(["sh", str(INSTALL), "--prefix", str(data),
                    "--exec", "/opt/kan studio/kanstudio"], check=True, capture_output=True,
                   env=env)
    desktop = data / "applications" / DESKTOP.name
    assert 'Exec="/opt/kan studio/kanstudio" %f' in desktop.read_text(encoding="utf-8")
    assert (data / "metainfo" / METAINFO.name).is_file()
    assert (data / "mime" / "packages" / f"{APP_ID}.xml").is_file()
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    for size in ICON_SIZES:
        assert (data / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png").is_file()
    if shutil.which("update-mime-database"):  # the MIME database now knows *.kstudio
        assert f"{PROJECT_TYPE}:*.kstudio" in (data / "mime" / "globs2").read_text()
    if shutil.which("update-desktop-database"):  # and the launcher opens such files
        cache = (data / "applications" / "mimeinfo.cache").read_text()
        assert f"{PROJECT_TYPE}={DESKTOP.name};" in cache
    subprocess.run(["sh", str(INSTALL), "--prefix", str(data), "--uninstall"], check=True,
                   capture_output=True, env=env)
    assert not desktop.exists()
    assert not list(data.rglob(f"{APP_ID}*"))

    # the default target is the user's own data folder
    subprocess.run(["sh", str(INSTALL)], check=True, capture_output=True,
                   env={**env, "XDG_DATA_HOME": str(tmp_path / "xdg")})
    assert (tmp_path / "xdg" / "applications" / DESKTOP.name).is_file()
