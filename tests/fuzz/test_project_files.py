"""Damaged ``.kstudio`` projects (issue 17) through ``kanstudio export`` and the loader
behind File ▸ Open Project: refused with a clear reason or loaded exactly, never an
internal error, never a file written anywhere."""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from hypothesis import currently_in_test_context, event, given
from hypothesis import strategies as st

from tests.fuzz.conftest import examples
from tests.fuzz.helpers import check_run, listing, progress, run_cli
from tests.fuzz.strategies import damaged, mutated_arrays, mutated_json

MEMBERS = ("manifest.json", "session.json", "arrays.npz")


@dataclass
class Valid:
    data: bytes
    members: dict[str, bytes]
    export: str  # `export --format json` of the valid file, less its timing


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> Valid:
    from kanstudio.data import Dataset
    from kanstudio.session import Session, SessionSettings
    from kanstudio.session.project_file import save_project

    rng = np.random.default_rng(5)
    X = rng.uniform(-1.0, 1.0, size=(30, 2))
    y = 3.0 * X[:, 0] + np.sin(np.pi * X[:, 1])
    session = Session(Dataset.from_arrays(X, y, ["u", "v"], ["g"]),
                      SessionSettings(width=[2, 1, 1], grid=3, seed=2,
                                      functions=["x", "x^2", "sin"]))
    session.train(3)
    session.auto_symbolic(lock_all=True)
    path = tmp_path_factory.mktemp("valid") / "study.kstudio"
    save_project(session, path)
    data = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = {name: zf.read(name) for name in MEMBERS}
    run = run_cli(["export", path.name, "--format", "json"], path.parent)
    assert run.rc == 0, run.stderr
    return Valid(data, members, _stable(run.stdout))


def _stable(export_json: str) -> str:
    payload = json.loads(export_json)
    payload.pop("seconds", None)
    return json.dumps(payload, sort_keys=True)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # object arrays are pickled here: the loader must refuse them
    return buf.getvalue()


@st.composite
def damaged_projects(draw, valid: Valid) -> bytes:
    kind = draw(st.sampled_from(["file", "member-bytes", "json", "json", "arrays", "arrays",
                                 "members"]))
    members = dict(valid.members)
    if kind == "file":
        return draw(damaged(valid.data, max_ops=2).filter(lambda d: d != valid.data))
    if kind == "member-bytes":  # truncated or flipped inside a member, valid zip around it
        name = draw(st.sampled_from(MEMBERS))
        members[name] = draw(damaged(members[name], max_ops=2))
    elif kind == "json":
        name = draw(st.sampled_from(["manifest.json", "session.json"]))
        doc = draw(mutated_json(json.loads(members[name])))
        members[name] = json.dumps(doc).encode()
    elif kind == "arrays":
        with np.load(io.BytesIO(members["arrays.npz"]), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        members["arrays.npz"] = _npz(draw(mutated_arrays(arrays)))
    else:
        op = draw(st.sampled_from(["missing", "extra", "unsafe"]))
        if op == "missing":
            del members[draw(st.sampled_from(MEMBERS))]
        else:
            members["../escape.txt" if op == "unsafe" else "notes.txt"] = b"x"
    return _zip(members)


def project_with_arrays(valid: Valid, edit: Callable[[dict[str, np.ndarray]], None]) -> bytes:
    """The valid project with its arrays changed in place by ``edit``."""
    with np.load(io.BytesIO(valid.members["arrays.npz"]), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    edit(arrays)
    return _zip({**valid.members, "arrays.npz": _npz(arrays)})


def check_project(valid: Valid, data: bytes) -> None:
    from kanstudio.session.project_file import ProjectError, load_project, save_project

    with tempfile.TemporaryDirectory(prefix="kanstudio-fuzz-") as tmp:
        folder = Path(tmp) / "work"
        folder.mkdir()
        (folder / "study.kstudio").write_bytes(data)
        before = listing(Path(tmp))
        run = run_cli(["export", "study.kstudio", "--format", "json"], folder)
        check_run(run, set(), before, listing(Path(tmp)))
        try:
            session = load_project(folder / "study.kstudio", device="cpu")
        except ProjectError as exc:  # the loader File ▸ Open Project uses
            assert str(exc) and "Traceback" not in str(exc)
            _tally(f"refused: {str(exc)[:40]}")
            return
        _tally(f"loaded; export exit {run.rc}")
        if run.rc != 0:
            return  # loaded, but nothing to export (e.g. an edge no longer locked)
        # Loaded exactly: saved again and reopened, it exports the same result.
        save_project(session, Path(tmp) / "again.kstudio")
        key = _content_key(Path(tmp) / "again.kstudio")
        if key not in _EXPORTED:  # the export is a function of the file's content
            again = run_cli(["export", "again.kstudio", "--format", "json"], Path(tmp))
            assert again.rc == 0, again.stderr
            _EXPORTED[key] = _stable(again.stdout)
        assert _EXPORTED[key] == _stable(run.stdout)
        if data == valid.data:
            assert _stable(run.stdout) == valid.export


# `export --format json` of each re-saved project, by its content: a long hunt reopens the
# same few re-saved projects thousands of times, and each export reads a formula (~0.5 s).
_EXPORTED: dict[str, str] = {}


def _content_key(path: Path) -> str:
    """What a project's export can depend on: every member, less the save times."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        manifest.pop("created", None)
        manifest.pop("modified", None)
        digest.update(json.dumps(manifest, sort_keys=True).encode())
        digest.update(zf.read("session.json"))
        with np.load(io.BytesIO(zf.read("arrays.npz")), allow_pickle=False) as npz:
            for name in sorted(npz.files):
                value = npz[name]
                digest.update(f"{name} {value.dtype.str} {value.shape}".encode())
                digest.update(np.ascontiguousarray(value).tobytes())
        assert sorted(zf.namelist()) == sorted(MEMBERS)
    return digest.hexdigest()


def _tally(outcome: str) -> None:
    progress(outcome)
    if currently_in_test_context():  # shown by --hypothesis-show-statistics
        event(outcome)


@examples(ci=30)
@given(data=st.data())
def test_export_and_open_handle_any_damaged_project(valid, data):
    check_project(valid, data.draw(damaged_projects(valid)))


def test_the_valid_project_exports_and_reloads_exactly(valid):
    check_project(valid, valid.data)
