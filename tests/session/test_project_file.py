"""Project files (design.md §4.3): a saved session opens again exactly as it was, a failed
save never damages the old file, and anything malformed or hostile is refused with a
ProjectError that says what is wrong, without unpickling or evaluating file content."""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import re
import struct
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import sympy

from kanstudio.data import Dataset, load_dataset
from kanstudio.session import Session, SessionSettings
from kanstudio.session.project_file import ProjectError, load_project, save_project

INPUTS = ["a", "b"]
TARGET = "f"


# ---------------------------------------------------------------------------- helpers
def _tiny_dataset(rows: int = 60) -> Dataset:
    rng = np.random.default_rng(7)
    X = rng.uniform(-1.0, 1.0, size=(rows, 2))
    y = np.sin(np.pi * X[:, 0]) + X[:, 1] ** 2
    return Dataset.from_arrays(X, y, INPUTS, [TARGET])


def _settings() -> SessionSettings:
    return SessionSettings(width=[2, 1, 1], grid=3, seed=1, functions=["x", "x^2", "sin"])


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _raw_zip(entries: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip written by hand from (name, raw deflate stream, crc32, declared size) entries,
    so that a member's declared size and content can be chosen freely."""
    body = bytearray()
    central = bytearray()
    for name, stream, crc, size in entries:
        encoded = name.encode()
        offset = len(body)
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 33, crc, len(stream),
                            size, len(encoded), 0)
        body += encoded + stream
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 33, crc,
                               len(stream), size, len(encoded), 0, 0, 0, 0, 0, offset)
        central += encoded
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(entries), len(entries),
                      len(central), len(body), 0)
    return bytes(body + central + end)


def _deflated(data: bytes) -> tuple[bytes, int, int]:
    comp = zlib.compressobj(6, zlib.DEFLATED, -15)
    return comp.compress(data) + comp.flush(), zlib.crc32(data), len(data)


def _zeros_deflated(mib: int) -> tuple[bytes, int, int]:
    """A raw deflate stream of ``mib`` MiB of zeros, built without ever holding them: one
    16 MiB segment compressed with a full flush (independent of what precedes it) is
    repeated, then closed with an empty final block."""
    chunk = bytes(16 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    segment = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    count = mib // 16
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    return segment * count + b"\x03\x00", crc, count * len(chunk)


def _npy(header: dict, body: bytes) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + body


def _npy_of(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def _replace_array(members: dict[str, bytes], name: str, npy: bytes | None) -> dict[str, bytes]:
    """The project's members with one array replaced (or, given None, left out)."""
    arrays = _members(members["arrays.npz"])
    if npy is None:
        del arrays[name]
    else:
        arrays[name] = npy
    return {**members, "arrays.npz": _zip(arrays, zipfile.ZIP_STORED)}


def _deflated_entries_but(good: bytes, left_out: str) -> list[tuple[str, bytes, int, int]]:
    """Raw zip entries of every member of ``good`` except ``left_out``."""
    return [(name, *_deflated(data)) for name, data in _members(good).items()
            if name != left_out]


def _edit_json(members: dict[str, bytes], member: str,
               edit: Callable[[dict], None]) -> dict[str, bytes]:
    doc = json.loads(members[member])
    edit(doc)
    return {**members, member: json.dumps(doc).encode()}


# ---------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def locked_session() -> Session:
    """A trained session whose every edge is locked, so it has a formula."""
    session = Session(_tiny_dataset(), _settings())
    session.train(5)
    session.auto_symbolic(lock_all=True)
    return session


@pytest.fixture(scope="module")
def good_project(locked_session: Session, tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("good") / "good.kstudio"
    save_project(locked_session, path)
    return path.read_bytes()


def _write(tmp_path: Path, data: bytes, name: str = "p.kstudio") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------- round trip
def test_round_trip_restores_data_settings_history_predictions_and_formula(
    locked_session: Session, tmp_path: Path
) -> None:
    path = tmp_path / "study.kstudio"
    save_project(locked_session, path)
    loaded = load_project(path)

    d, e = locked_session.dataset, loaded.dataset
    assert np.array_equal(e.X, d.X) and e.X.dtype == np.float64
    assert np.array_equal(e.y, d.y) and e.y.dtype == np.float64
    assert (e.input_names, e.target_names) == (INPUTS, [TARGET])
    assert loaded.settings == locked_session.settings
    assert loaded.history == locked_session.history
    assert [h["op"] for h in loaded.history] == ["new_model", "train", "auto_symbolic"]
    assert np.array_equal(loaded.train_idx, locked_session.train_idx)

    rng = np.random.default_rng(3)
    fresh = rng.uniform(-1.0, 1.0, size=(25, 2))
    for X in (d.X, fresh):
        assert np.array_equal(loaded.predict(X), locked_session.predict(X))  # bitwise
    assert loaded.model.width_ == locked_session.model.width_

    original = locked_session.formula()
    reopened = loaded.formula()
    assert reopened.expressions == original.expressions
    assert reopened.formula_test_rmse == original.formula_test_rmse
    # the loss curve comes back too (the window redraws it, the step count continues)
    assert loaded.model.history_ == locked_session.model.history_
    assert len(loaded.model.history_) == 5


def test_a_project_saved_before_the_loss_history_loads_with_none(
    good_project: bytes, tmp_path: Path
) -> None:
    old = _zip(_replace_array(_members(good_project), "model.history.npy", None))
    loaded = load_project(_write(tmp_path, old))
    assert loaded.model is not None and loaded.model.history_ == []


def test_round_trip_of_a_session_without_a_model(tmp_path: Path) -> None:
    session = Session(_tiny_dataset(40), SessionSettings(grid=4, k=2, seed=9, lamb=0.01,
                                                         functions=["sin", "exp"]))
    path = tmp_path / "fresh.kstudio"
    save_project(session, path)
    loaded = load_project(path)
    assert loaded.model is None
    assert loaded.history == []
    assert loaded.settings == session.settings
    assert np.array_equal(loaded.dataset.X, session.dataset.X)
    assert np.array_equal(loaded.dataset.y, session.dataset.y)
    assert loaded.dataset.input_names == INPUTS


def test_load_with_a_device_override_uses_it(good_project: bytes, tmp_path: Path) -> None:
    loaded = load_project(_write(tmp_path, good_project), device="cpu")
    assert loaded.settings.device == "cpu"
    assert loaded.model is not None


def test_saving_again_replaces_the_project(locked_session: Session, tmp_path: Path) -> None:
    path = tmp_path / "p.kstudio"
    save_project(Session(_tiny_dataset(40), _settings()), path)
    assert load_project(path).model is None
    save_project(locked_session, path)
    assert load_project(path).model is not None
    assert sorted(os.listdir(tmp_path)) == ["p.kstudio"]


# ---------------------------------------------------------------------------- atomic save
def _fail_second_writestr(monkeypatch: pytest.MonkeyPatch) -> None:
    real = zipfile.ZipFile.writestr
    calls = []

    def writestr(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", writestr)


def _fail_replace(monkeypatch: pytest.MonkeyPatch) -> None:
    def replace(*args, **kwargs):
        raise OSError("rename failed (simulated)")

    monkeypatch.setattr(os, "replace", replace)


def _fail_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    def fsync(fd):
        raise OSError("fsync failed (simulated)")

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize("break_it", [_fail_second_writestr, _fail_replace, _fail_fsync],
                         ids=["writestr", "replace", "fsync"])
def test_failed_save_keeps_the_old_file_and_leaves_no_temp_file(
    locked_session: Session, good_project: bytes, tmp_path: Path, break_it
) -> None:
    path = _write(tmp_path, good_project, "study.kstudio")
    other = Session(_tiny_dataset(40), _settings())
    with pytest.MonkeyPatch.context() as mp:
        break_it(mp)
        with pytest.raises(OSError, match="simulated"):
            save_project(other, path)
    assert path.read_bytes() == good_project
    assert sorted(os.listdir(tmp_path)) == ["study.kstudio"]
    assert load_project(path).model is not None


# ---------------------------------------------------------------------------- refusals
def _cut_half(good: bytes) -> bytes:
    return good[: len(good) // 2]


def _cut_tail(good: bytes) -> bytes:
    return good[:-40]


def _random(good: bytes) -> bytes:
    return np.random.default_rng(0).bytes(4096)


def _empty(good: bytes) -> bytes:
    return b""


def _without_session(good: bytes) -> bytes:
    members = _members(good)
    del members["session.json"]
    return _zip(members)


def _other_format(good: bytes) -> bytes:
    return _zip(_edit_json(_members(good), "manifest.json",
                           lambda m: m.update(format="someone-elses-project")))


def _schema_99(good: bytes) -> bytes:
    return _zip(_edit_json(_members(good), "manifest.json",
                           lambda m: m.update(schema_version=99)))


def _traversal(good: bytes) -> bytes:
    return _zip({**_members(good), "../x": b"owned"})


def _absolute(good: bytes) -> bytes:
    return _zip({**_members(good), "/tmp/x": b"owned"})


def _extra(good: bytes) -> bytes:
    return _zip({**_members(good), "notes.txt": b"hello"})


def _session_not_json(good: bytes) -> bytes:
    return _zip({**_members(good), "session.json": b"{'data': None"})


def _session_list(good: bytes) -> bytes:
    return _zip({**_members(good), "session.json": b"[]"})


def _setting(key: str, value) -> Callable[[bytes], bytes]:
    def build(good: bytes) -> bytes:
        return _zip(_edit_json(_members(good), "session.json",
                               lambda d: d["settings"].update({key: value})))

    return build


def _input_names(names) -> Callable[[bytes], bytes]:
    def build(good: bytes) -> bytes:
        return _zip(_edit_json(_members(good), "session.json",
                               lambda d: d["data"].update(input_names=names)))

    return build


def _huge_shape(good: bytes) -> bytes:
    npy = _npy({"descr": "<f8", "fortran_order": False, "shape": (10**12, 2)}, b"")
    return _zip(_replace_array(_members(good), "data.X.npy", npy))


def _overflowing_shape(good: bytes) -> bytes:
    # 2**62 * 4 wraps to 0 in int64: the body (empty) must still not pass for the shape
    npy = _npy({"descr": "<f8", "fortran_order": False, "shape": (2**62, 4)}, b"")
    return _zip(_replace_array(_members(good), "data.X.npy", npy))


def _short_body(good: bytes) -> bytes:
    npy = _npy({"descr": "<f8", "fortran_order": False, "shape": (60, 2)}, bytes(80))
    return _zip(_replace_array(_members(good), "data.X.npy", npy))


def _pickled(good: bytes) -> bytes:
    npy = _npy_of(np.array([{"evil": "payload"}, None], dtype=object))
    return _zip(_replace_array(_members(good), "data.X.npy", npy))


def _nan_data(good: bytes) -> bytes:
    arrays = _members(_members(good)["arrays.npz"])
    X = np.load(io.BytesIO(arrays["data.X.npy"]))  # our own test data, not file content
    X[3, 1] = np.nan
    return _zip(_replace_array(_members(good), "data.X.npy", _npy_of(X)))


def _string_data(good: bytes) -> bytes:
    npy = _npy_of(np.array([["1", "2"]] * 60))
    return _zip(_replace_array(_members(good), "data.X.npy", npy))


def _bad_history(good: bytes) -> bytes:
    return _zip(_replace_array(_members(good), "model.history.npy", _npy_of(np.zeros((4, 2)))))


REFUSALS = [
    ("truncated-half", _cut_half, r"not a valid archive \(truncated or corrupted"),
    ("truncated-tail", _cut_tail, r"not a valid archive \(truncated or corrupted"),
    ("random-bytes", _random, r"not a valid archive"),
    ("empty", _empty, r"the file is empty"),
    ("no-session-json", _without_session, r"lacks session\.json"),
    ("other-format", _other_format, r"not a KAN Studio project"),
    ("schema-99", _schema_99, r"schema version 99 is not supported"),
    ("path-traversal", _traversal, r"unsafe member name '\.\./x'"),
    ("absolute-path", _absolute, r"unsafe member name '/tmp/x'"),
    ("extra-member", _extra, r"unexpected member 'notes\.txt'"),
    ("session-not-json", _session_not_json, r"session\.json is not valid JSON"),
    ("session-not-object", _session_list, r"session\.json must be an object"),
    ("width-string", _setting("width", "2,1,1"), r"setting 'width' has the wrong type"),
    ("grid-string", _setting("grid", "5"), r"setting 'grid' has the wrong type"),
    ("grid-bool", _setting("grid", True), r"setting 'grid' has the wrong type"),
    ("unknown-setting", _setting("colour", "blue"), r"unknown setting 'colour'"),
    ("too-few-input-names", _input_names(["a"]), r"input_names must list 2"),
    ("too-many-input-names", _input_names(["a", "b", "c"]), r"input_names must list 2"),
    ("repeated-input-names", _input_names(["a", "a"]), r"input_names must list 2 distinct"),
    ("input-names-not-strings", _input_names([1, 2]), r"input_names must be a list"),
    ("huge-array-shape", _huge_shape, r"data\.X.*too large"),
    ("overflowing-array-shape", _overflowing_shape, r"arrays cannot be read|too large"),
    ("short-array-body", _short_body, r"data\.X.*truncated"),
    ("pickled-object-array", _pickled, r"data\.X.*unsupported dtype object"),
    ("string-array", _string_data, r"data\.X.*unsupported dtype"),
    ("nan-in-data", _nan_data, r"NaN or infinite"),
    ("history-wrong-shape", _bad_history, r"history must be a float \(steps, 6\) array"),
]


@pytest.mark.parametrize(("build", "message"), [r[1:] for r in REFUSALS],
                         ids=[r[0] for r in REFUSALS])
def test_malformed_projects_are_refused_with_a_reason(
    good_project: bytes, tmp_path: Path, build, message: str
) -> None:
    path = _write(tmp_path, build(good_project))
    with pytest.raises(ProjectError, match=message) as info:
        load_project(path)
    assert "\n" not in str(info.value)


def test_missing_file_is_refused_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"cannot open .*absent\.kstudio"):
        load_project(tmp_path / "absent.kstudio")


def _load_measuring_memory(path: Path) -> tuple[BaseException | None, int]:
    tracemalloc.start()
    try:
        load_project(path)
    except ProjectError as exc:
        error: BaseException | None = exc
    else:
        error = None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return error, peak


def test_zip_bomb_declaring_600_mib_is_refused_without_inflating(
    good_project: bytes, tmp_path: Path
) -> None:
    entries = _deflated_entries_but(good_project, "arrays.npz")
    entries.append(("arrays.npz", *_zeros_deflated(608)))
    data = _raw_zip(entries)
    assert len(data) < 2 << 20  # the file itself is small...
    assert entries[-1][3] > 600 << 20  # ...and honestly declares > 600 MiB
    error, peak = _load_measuring_memory(_write(tmp_path, data))
    assert isinstance(error, ProjectError)
    assert re.search(r"'arrays\.npz' declares \d+ bytes; too large", str(error))
    assert peak < 64 << 20


def test_zip_bomb_understating_its_size_is_refused_without_inflating(
    good_project: bytes, tmp_path: Path
) -> None:
    entries = _deflated_entries_but(good_project, "arrays.npz")
    stream, _, _ = _zeros_deflated(608)
    entries.append(("arrays.npz", stream, zlib.crc32(bytes(1000)), 1000))
    error, peak = _load_measuring_memory(_write(tmp_path, _raw_zip(entries)))
    assert isinstance(error, ProjectError)
    assert "arrays" in str(error)
    assert peak < 64 << 20


def test_member_compressed_suspiciously_well_is_refused(
    good_project: bytes, tmp_path: Path
) -> None:
    entries = _deflated_entries_but(good_project, "session.json")
    entries.append(("session.json", *_zeros_deflated(32)))
    with pytest.raises(ProjectError, match=r"'session\.json' is compressed suspiciously well"):
        load_project(_write(tmp_path, _raw_zip(entries)))


def test_member_limit_is_enforced(good_project: bytes, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import kanstudio.model.archive

    sizes = {name: len(data) for name, data in _members(good_project).items()}
    assert sizes["arrays.npz"] > max(sizes["manifest.json"], sizes["session.json"])
    limit = sizes["arrays.npz"] - 1  # every member but the arrays fits
    monkeypatch.setattr(kanstudio.model.archive, "MAX_MEMBER_BYTES", limit)
    with pytest.raises(ProjectError, match=r"'arrays\.npz' declares \d+ bytes; too large"):
        load_project(_write(tmp_path, good_project))


def test_load_never_unpickles_or_evaluates(
    good_project: bytes, locked_session: Session, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, good_project)

    def forbidden(*args, **kwargs):
        raise AssertionError("load_project must not unpickle or evaluate file content")

    for module, name in [(pickle, "loads"), (pickle, "load"), (np, "load"),
                         (sympy, "sympify"), (sympy, "parse_expr")]:
        monkeypatch.setattr(module, name, forbidden)
    import kanstudio.model.archive
    import kanstudio.session.project_file

    for module in (kanstudio.model.archive, kanstudio.session.project_file):
        monkeypatch.setattr(module, "eval", forbidden, raising=False)
        monkeypatch.setattr(module, "exec", forbidden, raising=False)
    loaded = load_project(path)
    X = locked_session.dataset.X
    assert np.array_equal(loaded.predict(X), locked_session.predict(X))


# ---------------------------------------------------------------------------- found bugs
def _csv_with_a_gap(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.0, 1.0, 30)
    lines = ["x,y"] + [f"{v:.17g},{2 * v + 1:.17g}" for v in x]
    lines[5] = f"{x[4]:.17g},"  # row 6 has no target value
    path = tmp_path / "gap.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_round_trip_keeps_the_number_of_dropped_rows(tmp_path: Path) -> None:
    dataset = load_dataset(_csv_with_a_gap(tmp_path), target="y", drop_missing=True)
    assert dataset.n_dropped == 1
    save_project(Session(dataset), tmp_path / "p.kstudio")
    assert load_project(tmp_path / "p.kstudio").dataset.n_dropped == 1


def test_round_trip_keeps_the_source_path_a_path(tmp_path: Path) -> None:
    dataset = load_dataset(_csv_with_a_gap(tmp_path), target="y", drop_missing=True)
    assert isinstance(dataset.source_path, Path)
    save_project(Session(dataset), tmp_path / "p.kstudio")
    loaded = load_project(tmp_path / "p.kstudio").dataset.source_path
    assert loaded == dataset.source_path
    assert loaded.name == "gap.csv"


def test_resaving_an_opened_project_keeps_its_creation_time(tmp_path: Path) -> None:
    first = tmp_path / "first.kstudio"
    save_project(Session(_tiny_dataset(40), _settings()), first, created=1_000_000.0)
    reopened = load_project(first)
    save_project(reopened, tmp_path / "second.kstudio")
    manifest = json.loads(_members((tmp_path / "second.kstudio").read_bytes())["manifest.json"])
    assert manifest["created"] == 1_000_000.0
    assert manifest["modified"] > manifest["created"]


@pytest.mark.parametrize(("key", "value"), [
    ("grid", 0),
    ("k", -1),
    ("width", [3, 1]),
    ("functions", ["no_such_function"]),
    ("opt", "rmsprop"),
    ("dtype", "float16"),
    ("lamb", -1.0),
])
def test_settings_that_cannot_work_are_refused_at_load(
    good_project: bytes, tmp_path: Path, key: str, value
) -> None:
    path = _write(tmp_path, _setting(key, value)(good_project))
    with pytest.raises(ProjectError, match=key):
        load_project(path)


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_saved_project_gets_the_usual_file_permissions(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        path = tmp_path / "shared.kstudio"
        save_project(Session(_tiny_dataset(40), _settings()), path)
        assert path.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old_umask)


def test_non_finite_history_values_are_saved_as_null(tmp_path: Path) -> None:
    """Non-finite numbers in the history must not make the file invalid strict JSON."""
    session = Session(_tiny_dataset(40), _settings())
    session.history.append({"op": "note", "value": math.inf, "nested": [math.nan, 1.5]})
    path = tmp_path / "p.kstudio"
    save_project(session, path)
    doc = json.loads(_members(path.read_bytes())["session.json"],
                     parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    assert doc["history"][-1] == {"op": "note", "value": None, "nested": [None, 1.5]}
    assert load_project(path).history[-1]["nested"] == [None, 1.5]


# ---------------------------------------------------------------------------- formula status
def test_the_formula_status_is_saved_as_data_and_read_back(
    locked_session: Session, tmp_path: Path
) -> None:
    result = locked_session.formula()
    assert result.status in ("verified", "approximate") and result.status_reason
    path = tmp_path / "status.kstudio"
    save_project(locked_session, path)
    doc = json.loads(_members(path.read_bytes())["session.json"])
    assert doc["formula"]["status"] == result.status  # plain data: no formula text to parse
    assert "expression" not in json.dumps(doc["formula"])
    loaded = load_project(path)
    assert loaded.formula_report == result.report()


def test_a_project_saved_before_the_formula_status_loads_without_one(
    good_project: bytes, tmp_path: Path
) -> None:
    old = _zip(_edit_json(_members(good_project), "session.json",
                          lambda doc: doc.pop("formula", None)))
    assert load_project(_write(tmp_path, old)).formula_report is None


def test_a_bad_formula_status_is_refused(good_project: bytes, tmp_path: Path) -> None:
    bad = _zip(_edit_json(_members(good_project), "session.json",
                          lambda doc: doc.update(formula={"status": "exact"})))
    with pytest.raises(ProjectError, match="formula.status"):
        load_project(_write(tmp_path, bad))


def test_a_model_change_clears_the_formula_status(locked_session: Session) -> None:
    import copy

    session = copy.deepcopy(locked_session)
    session.formula()
    assert session.formula_report is not None
    session.train(1)
    assert session.formula_report is None
    session.formula()
    session.undo()
    assert session.formula_report is None


def test_the_formula_discover_chose_is_the_session_s_and_the_project_s(tmp_path):
    """A formula found otherwise than from the network's edges (the structure step, the
    search engine) is what the session, and the reopened project, say; the network's own
    formula would differ (here: it has numeric edges and none). A model change drops it."""
    from kanstudio.session.errors import FormulaNotSymbolicError

    path = Path(__file__).resolve().parents[2] / "sample_datasets" / "toy_sin.csv"
    session = Session(load_dataset(path, target="f"), SessionSettings(width=[1, 1, 1]))
    session.train(10)
    x = sympy.Symbol(session.symbols[0])
    chosen = session.describe_formula([sympy.sin(sympy.pi * x)])
    chosen.status, chosen.status_reason = "verified", "as the structure step said"
    session.pin_formula(chosen)
    assert str(session.formula().expressions[0]) == "sin(pi*x)"
    save_project(session, tmp_path / "p.kstudio")
    again = load_project(tmp_path / "p.kstudio")
    result = again.formula()
    assert str(result.expressions[0]) == "sin(pi*x)" and str(result.exact[0]) == "sin(pi*x)"
    assert result.status == "verified" and result.status_reason == "as the structure step said"
    assert result.formula_test_r2 > 0.999999
    again.train(1)  # the model changed: its formula is the network's again
    with pytest.raises(FormulaNotSymbolicError):
        again.formula()


def test_a_chosen_formula_that_is_not_a_tree_is_refused(tmp_path):
    session = Session(_tiny_dataset(), _settings())
    session.train(2)
    x = sympy.Symbol(session.symbols[0])
    session.pin_formula(session.describe_formula([x + 1]))
    save_project(session, tmp_path / "p.kstudio")
    members = _members((tmp_path / "p.kstudio").read_bytes())
    doc = json.loads(members["session.json"])
    assert doc["chosen_formula"]["exact"] == [["add", 1, ["var", 0]]]
    doc["chosen_formula"]["exact"] = [["__import__", "os"]]
    members["session.json"] = json.dumps(doc).encode()
    (tmp_path / "bad.kstudio").write_bytes(_zip(members))
    with pytest.raises(ProjectError, match="chosen_formula"):
        load_project(tmp_path / "bad.kstudio")


def test_the_constants_listed_are_the_shown_formula_s_also_after_reopening(tmp_path):
    """A finder that tidied its formula itself (the structure step) passes the display form
    and its full-precision twin: the constants table lists that form's constants, not
    those of the unsimplified fit (1.785·x·(0.5602·y + 1.491e-10) shown as x·y listed
    1.785 and 1.491e-10), and a reopened project lists the same."""
    path = Path(__file__).resolve().parents[2] / "sample_datasets" / "toy_sin.csv"
    session = Session(load_dataset(path, target="f"), SessionSettings(width=[1, 1, 1]))
    session.train(5)
    x = sympy.Symbol(session.symbols[0])
    unsimplified = 1.785 * sympy.sin(3.14159265 * x) * (0.5602 + sympy.Float(1.491e-10) * x)
    full = sympy.Float(0.99998765) * sympy.sin(sympy.pi * x)
    shown = sympy.Float(1.0) * sympy.sin(sympy.pi * x)
    chosen = session.describe_formula([unsimplified], shown=[shown], full=[full])
    assert [c["value"] for c in chosen.constants] == [pytest.approx(0.99998765)]
    only_shown = session.describe_formula([unsimplified], shown=[shown])
    assert [c["value"] for c in only_shown.constants] == [1.0]
    session.pin_formula(chosen)
    save_project(session, tmp_path / "p.kstudio")
    again = load_project(tmp_path / "p.kstudio").formula()
    assert [c["value"] for c in again.constants] == [pytest.approx(0.99998765)]
    old = _members((tmp_path / "p.kstudio").read_bytes())  # a file from before "full"
    doc = json.loads(old["session.json"])
    del doc["chosen_formula"]["full"]
    old["session.json"] = json.dumps(doc).encode()
    (tmp_path / "old.kstudio").write_bytes(_zip(old))
    assert [c["value"] for c in load_project(tmp_path / "old.kstudio").formula().constants
            ] == [pytest.approx(1.0)]
