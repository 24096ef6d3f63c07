"""GUI tests drive the real window offscreen (no display needed).

QT_QPA_PLATFORM is set before anything imports Qt; every test gets its own settings folder
so the user's real preferences are neither read nor written. Windows shut their worker
down when they close, so no process or thread outlives a test.
"""

from __future__ import annotations

import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest

import kanstudio.gui  # noqa: F401 - applies the Qt binding work-arounds first

SAMPLES = Path(__file__).resolve().parents[2] / "sample_datasets"


@pytest.fixture(autouse=True)
def settings_dir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "settings"
    monkeypatch.setenv("KANSTUDIO_SETTINGS_DIR", str(folder))
    return folder


@pytest.fixture
def make_window(qtbot):
    """Factory: a shown main window whose worker is ready (thread mode unless asked)."""
    from kanstudio.gui.main_window import MainWindow

    windows = []
    # The thread-mode worker runs Python beside the window. Were the cyclic garbage
    # collector to run in the worker thread, it could free Qt wrappers there, taking a
    # Qt mutex while waiting for the GIL that the main thread holds while it waits for
    # that mutex (seen once under load: a window's close hung with both threads idle). So
    # automatic collection is off while a window lives, and garbage is collected here, in
    # the main thread. (The app itself runs the worker in another process.)
    gc.collect()
    gc.disable()

    def make(mode: str = "thread"):
        window = MainWindow(worker_mode=mode)
        window.projects.unsaved_prompt = lambda: "discard"  # a modal box would block the test
        window.projects.recovery_prompt = lambda: False
        qtbot.addWidget(window)
        window.show()
        window.start_worker()
        qtbot.waitUntil(lambda: window.bridge.is_ready, timeout=120_000)
        windows.append(window)
        return window

    try:
        yield make
        for window in windows:
            window.close()
            assert not window.bridge.client.alive
    finally:
        gc.enable()
        gc.collect()


@pytest.fixture
def window(make_window):
    return make_window()


@pytest.fixture
def sample():
    """A catalog sample by file stem."""
    from kanstudio.gui.samples import load_catalog

    catalog = {s.path.stem: s for s in load_catalog()}
    return catalog.__getitem__


def open_and_load(qtbot, window, sample) -> None:
    """Open a sample and wait until the worker has loaded it."""
    assert window.projects.open_sample(sample)
    qtbot.waitUntil(lambda: bool(window.state.engine.has_data), timeout=30_000)


def train(qtbot, window, steps: int, opt: str = "lbfgs", timeout: int = 60_000) -> None:
    """Press Train for ``steps`` steps and wait until the run is over."""
    window.state.last_done = None
    set_training(window, steps=steps, opt=opt)
    window.runs.train()
    qtbot.waitUntil(lambda: window.state.last_done is not None and not window.runs.training,
                    timeout=timeout)


def open_and_train(qtbot, window, sample, width: str, steps: int, opt: str = "lbfgs") -> None:
    """Open a sample, set the network's width (e.g. "1, 1, 1") and train it."""
    open_and_load(qtbot, window, sample)
    window.training_panel.width_edit.setText(width)
    window.training_panel.settings_edited.emit()
    train(qtbot, window, steps, opt)


def set_training(window, steps: int, opt: str = "adam") -> None:
    panel = window.training_panel
    panel.steps.setValue(steps)
    panel.opt.setCurrentIndex(panel.opt.findData(opt))
