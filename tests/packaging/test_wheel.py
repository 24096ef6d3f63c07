"""Packaging (issue #7): an sdist and a wheel built from this tree install a working
``kanstudio`` with its sample datasets and icons as package data.

A copy of the source (only what the sdist needs) is built into an sdist; the sdist is
unpacked and built into a wheel (so MANIFEST.in and the package-data mapping are both
exercised); the wheel goes into a fresh virtual environment that sees the running environment's
packages (torch & co. are not downloaded again) and is run from a temporary folder,
never from the source tree. The global environment has kanstudio installed in editable
mode, so every test checks that the venv's copy is the one that runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP_ID = "io.github.kanstudio.KANStudio"
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
CATALOG = json.loads((ROOT / "sample_datasets" / "catalog.json").read_text(encoding="utf-8"))
# What the sdist is built from: a copy, so builds never write into the working tree.
SOURCES = ("pyproject.toml", "README.md", "MANIFEST.in", "kanstudio", "sample_datasets",
           "resources", "packaging")
# Headless, and nothing that would make the source tree importable.
ENV = {k: v for k, v in os.environ.items()
       if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "PYTHONPATH")}
ENV.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PIP_DISABLE_PIP_VERSION_CHECK="1")


def _run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, (f"{args} exited {done.returncode}\n"
                                  f"stdout:\n{done.stdout[-3000:]}\nstderr:\n{done.stderr[-3000:]}")
    return done


def _source_packages() -> set[str]:
    """Every package of the source tree (a folder of kanstudio/ with an __init__.py)."""
    return {".".join(p.parent.relative_to(ROOT).parts)
            for p in (ROOT / "kanstudio").rglob("__init__.py")
            if "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """sdist built from a copy of the tree, then a wheel built from the unpacked sdist."""
    base = tmp_path_factory.mktemp("packaging")
    src = base / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "dist", "*.egg-info")
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        else:
            shutil.copy2(path, src / name)
    (base / "sdist").mkdir()
    _run([sys.executable, "-c",
          "import sys; from setuptools import build_meta as b; "
          "print(b.build_sdist(sys.argv[1]))", base / "sdist"], cwd=src)
    sdist = next((base / "sdist").glob("kanstudio-*.tar.gz"))
    with tarfile.open(sdist) as archive:
        archive.extractall(base / "unpacked", filter="data")
    unpacked = next((base / "unpacked").iterdir())
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--no-index", "-w", base / "wheels", unpacked], cwd=base)
    wheel = next((base / "wheels").glob("kanstudio-*.whl"))
    return {"base": base, "sdist": sdist, "wheel": wheel}


@pytest.fixture(scope="module")
def venv(built) -> dict[str, Path]:
    """A fresh venv that sees the running environment's packages, with the wheel installed.

    Not ``--system-site-packages``: inside a virtual environment that flag would show the
    base interpreter's packages, not this environment's (torch & co. may live only here).
    A ``.pth`` file lists the running interpreter's site directories instead; being mere
    path lines, the editable install's own ``.pth`` hooks there are not run, so the
    wheel's copy of kanstudio is the one imported.
    """
    folder = built["base"] / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", folder], cwd=built["base"])
    python = folder / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    inner_site = Path(_run([python, "-c", purelib], cwd=built["base"]).stdout.strip())
    outer_sites = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    (inner_site / "_outer_environment.pth").write_text("\n".join(outer_sites) + "\n",
                                                       encoding="utf-8")
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", built["wheel"]],
         cwd=built["base"])
    work = built["base"] / "work"  # the cwd of every command: not the source tree
    work.mkdir()
    return {"python": python, "kanstudio": folder / "bin" / "kanstudio", "root": folder,
            "work": work}


def test_package_list_covers_every_subpackage():
    # pyproject.toml lists packages explicitly (two folders are mapped into the package),
    # so a new subpackage must be added there or the wheel silently lacks it.
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    missing = _source_packages() - listed
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"
    mapped = config["tool"]["setuptools"]["package-dir"]
    assert mapped == {"kanstudio.sample_datasets": "sample_datasets",
                      "kanstudio.resources": "resources"}


def test_sdist_holds_data_and_packaging(built):
    with tarfile.open(built["sdist"]) as archive:
        names = {"/".join(n.split("/")[1:]) for n in archive.getnames()}
    for entry in CATALOG:
        assert f"sample_datasets/{entry['file']}" in names
    for path in ("sample_datasets/catalog.json", f"resources/icons/{APP_ID}.svg",
                 f"resources/linux/{APP_ID}.desktop", "packaging/kanstudio.spec",
                 "packaging/linux/install-desktop.sh", "MANIFEST.in", "pyproject.toml"):
        assert path in names, path


def test_wheel_holds_every_package_and_the_data(built):
    with zipfile.ZipFile(built["wheel"]) as archive:
        names = set(archive.namelist())
    for package in _source_packages():
        assert package.replace(".", "/") + "/__init__.py" in names, package
    data = "kanstudio/sample_datasets/"
    assert data + "catalog.json" in names
    for entry in CATALOG:
        assert data + entry["file"] in names, entry["file"]
    icons = "kanstudio/resources/icons/"
    assert f"{icons}{APP_ID}.svg" in names
    for size in ICON_SIZES:
        assert f"{icons}hicolor/{size}x{size}/apps/{APP_ID}.png" in names
    # nothing of the source tree's own layout leaks in as a top-level package
    assert not any(n.startswith(("sample_datasets/", "resources/", "tests/")) for n in names)


def test_installed_command_reports_its_version(venv):
    from kanstudio import __version__

    done = _run([venv["kanstudio"], "--version"], cwd=venv["work"], timeout=60)
    assert done.stdout.strip() == f"kanstudio {__version__}"


def test_installed_package_finds_its_own_data(venv):
    probe = ("import json, kanstudio; from kanstudio.gui.samples import "
             "bundled_dir, load_catalog, sample_dir; "
             "print(json.dumps({'file': kanstudio.__file__, 'samples': str(sample_dir()), "
             "'n': len(load_catalog()), "
             f"'icons': str(bundled_dir('resources', 'icons/{APP_ID}.svg'))}}))")
    done = _run([venv["python"], "-c", probe], cwd=venv["work"], timeout=60)
    found = json.loads(done.stdout)
    site = venv["root"].resolve()
    # the venv's copy shadows the global editable install of the source tree
    assert Path(found["file"]).resolve().is_relative_to(site), found
    assert Path(found["samples"]).resolve().is_relative_to(site), found
    assert Path(found["samples"]).parts[-2:] == ("kanstudio", "sample_datasets")
    assert Path(found["icons"]).resolve().is_relative_to(site), found
    assert found["n"] == len(CATALOG)


def test_installed_fit_on_an_installed_sample(venv):
    folder = venv["root"].resolve()
    csv = next(folder.glob("lib/python*/site-packages/kanstudio/sample_datasets/toy_sin.csv"))
    out = venv["work"] / "result.json"
    done = _run([venv["kanstudio"], "fit", csv, "--steps", "5", "--quiet", "--out", out],
                cwd=venv["work"], timeout=300)
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["inputs"] == ["x"] and result["target"] == "f"
    assert result["formula"] in done.stdout
    assert result["formula_test_r2"] > 0.99, result
