"""Generated and damaged files opened in the real window (issue 17): a CSV shows the Data
panel's message or trains; a project opens or shows why not; no exception ever reaches
the event loop, and no message is an internal error."""

from __future__ import annotations

import gc
import itertools
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz import test_project_files as projects
from tests.fuzz.conftest import examples
from tests.fuzz.helpers import listing, progress
from tests.fuzz.strategies import csv_files
from tests.fuzz.test_csv_cli import CLEAN, ISSUE_ROW
from tests.gui import conftest as gui
from tests.gui.conftest import train

# The GUI suite's fixtures (settings folder of its own, a ready window) and the valid project.
settings_dir, make_window, window = gui.settings_dir, gui.make_window, gui.window
valid = projects.valid

WAIT = 60_000
_names = itertools.count()
#: The window fixture turns automatic garbage collection off for the whole test (see
#: tests/gui/conftest.py), which for a long hunt is thousands of examples: collected here,
#: in the main thread, every this many (3 GB after 3,050 examples without).
COLLECT_EVERY = 100


def _new_messages(window, start: int) -> list:
    return window.messages.history[start:]


def _no_internal_errors(window, start: int) -> None:
    for message in _new_messages(window, start):
        assert not message.text.startswith("Internal error"), (message.text, message.detail)


def open_csv_in_window(qtbot, window, folder, data: bytes) -> str:
    """Open ``data`` as a CSV; returns what the user saw: "refused" (a message), "blocked"
    (the Data panel lists the problems) or "trained"."""
    path = folder / f"data{next(_names)}.csv"  # a new name: the window reloads the engine
    path.write_bytes(data)
    start = len(window.messages.history)
    with qtbot.capture_exceptions() as exceptions:
        if not window.projects.open_csv(str(path)):
            assert window.messages.current_text().startswith("Cannot open "), start
            outcome = "refused"
        elif not window.data_panel.report.ok:
            errors = window.data_panel.report.errors
            assert errors and errors[0].message
            assert window.data_panel.issues_list.count() >= len(errors)
            assert "Fix the problems" in window.data_panel.status_label.text()
            outcome = "blocked"
        else:
            qtbot.waitUntil(lambda: bool(window.state.engine.has_data)
                            or len(window.messages.history) > start, timeout=WAIT)
            outcome = "refused"
            if window.state.engine.has_data:
                train(qtbot, window, steps=2, timeout=WAIT)
                assert window.state.last_done["reason"] in ("finished", "error")
                outcome = "trained"
        qtbot.wait(20)  # queued events run inside the capture
    assert not exceptions, exceptions
    _no_internal_errors(window, start)
    progress(outcome)
    return outcome


@examples(ci=8)
@given(data=csv_files())
@example(data=ISSUE_ROW)
@example(data=CLEAN)
def test_any_csv_in_the_window(qtbot, window, tmp_path, data):
    open_csv_in_window(qtbot, window, tmp_path, data)


def test_the_issue_row_is_shown_in_the_data_panel(qtbot, window, tmp_path):
    assert open_csv_in_window(qtbot, window, tmp_path, ISSUE_ROW) == "blocked"
    assert any("row 22" in m for m in window.data_panel.issue_messages())
    assert open_csv_in_window(qtbot, window, tmp_path, CLEAN) == "trained"


def open_project_in_window(qtbot, window, tmp_path, project: bytes) -> str:
    """Open ``project`` with File ▸ Open Project; returns "opened" or "refused" (a message
    says why). Every project goes in one folder, which must hold nothing else after."""
    folder = tmp_path / "projects"  # tmp_path also holds the window's settings folder
    folder.mkdir(exist_ok=True)
    number = next(_names)
    if number % COLLECT_EVERY == COLLECT_EVERY - 1:
        gc.collect()
    path = folder / f"study{number}.kstudio"
    path.write_bytes(project)
    before = listing(folder)
    start = len(window.messages.history)
    window.state.pending_project = None
    with qtbot.capture_exceptions() as exceptions:
        assert window.projects.open_project(str(path))
        qtbot.waitUntil(lambda: window.state.current_project == str(path)
                        or len(window.messages.history) > start, timeout=WAIT)
        qtbot.wait(20)
    assert not exceptions, exceptions
    _no_internal_errors(window, start)
    if window.state.current_project != str(path):
        assert window.messages.history[start].text  # refused, saying why
    assert listing(folder) == before  # opening writes nothing beside the file
    outcome = "opened" if window.state.current_project == str(path) else "refused"
    progress(outcome)
    return outcome


@examples(ci=6)
@given(data=st.data())
def test_any_damaged_project_in_the_window(qtbot, window, tmp_path, valid, data):
    open_project_in_window(qtbot, window, tmp_path,
                           data.draw(projects.damaged_projects(valid)))


def test_a_network_whose_scores_overflow(qtbot, window, tmp_path, valid):
    """Found by the 10,000-example run: an edge's mask at 2.8e153 overflowed the network's
    scores to NaN, which the network view cast to a brush index inside the event loop. A
    mask that is neither 0 nor 1 is now refused, saying so; a network whose scores overflow
    for another reason (a huge but finite weight) opens, its nodes faded, without an error."""

    def huge_mask(arrays):
        arrays["model.network.layers.0.mask"][0, 0] = 2.84775883e153

    def huge_weight(arrays):  # c in c*f(a*x+b)+d of the locked edge (0, 0, 0)
        arrays["model.network.layers.0.symbolic_params"][0, 0, 2] = 1e300

    project = projects.project_with_arrays(valid, huge_mask)
    assert open_project_in_window(qtbot, window, tmp_path, project) == "refused"
    shown = window.messages.history[-1]
    assert "layers.0.mask must hold only 0 and 1" in shown.text + shown.detail, shown
    project = projects.project_with_arrays(valid, huge_weight)
    assert open_project_in_window(qtbot, window, tmp_path, project) == "opened"
