"""Product nodes in a session: project files (schema 2, and schema-1 files still open),
undo/redo across edits of a product network, and width settings in KAN 2.0 notation."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from kanstudio.data import Dataset
from kanstudio.session import Session, SessionSettings
from kanstudio.session.project_file import (
    PROJECT_SCHEMA,
    ProjectError,
    load_project,
    save_project,
)
from kanstudio.session.session import SessionError


def _dataset(rows: int = 80) -> Dataset:
    rng = np.random.default_rng(5)
    X = rng.uniform(-1.0, 1.0, size=(rows, 2))
    return Dataset.from_arrays(X, X[:, 0] * X[:, 1], ["a", "b"], ["f"])


@pytest.fixture(scope="module")
def product_session() -> Session:
    session = Session(_dataset(), SessionSettings(width=[2, [1, 1], 1], grid=3, seed=2))
    session.train(3)
    return session


def _rewrite(data: bytes, edits: dict) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    for name, edit in edits.items():
        doc = json.loads(members[name])
        edit(doc)
        members[name] = json.dumps(doc).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, blob in members.items():
            zf.writestr(name, blob)
    return buf.getvalue()


def test_a_product_project_round_trips(product_session: Session, tmp_path: Path) -> None:
    path = tmp_path / "prod.kstudio"
    save_project(product_session, path)
    manifest = json.loads(zipfile.ZipFile(path).read("manifest.json"))
    assert manifest["schema_version"] == PROJECT_SCHEMA == 2
    loaded = load_project(path)
    assert loaded.settings.width == [2, [1, 1], 1]
    assert loaded.model.width_ == [2, [1, 1], 1] and loaded.model.mult_arity_[1] == [2]
    X = product_session.dataset.X
    assert np.array_equal(loaded.model.predict(X), product_session.model.predict(X))


def test_a_schema_1_project_still_opens(tmp_path: Path) -> None:
    """What today's (schema 1) files hold: int widths, network state version 1, no
    mult_arity anywhere."""
    session = Session(_dataset(), SessionSettings(width=[2, 2, 1], grid=3, seed=1))
    session.train(2)
    path = tmp_path / "new.kstudio"
    save_project(session, path)

    def old_session(doc: dict) -> None:
        del doc["settings"]["mult_arity"]
        del doc["model"]["params"]["mult_arity"]
        del doc["model"]["network"]["mult_arity"]
        doc["model"]["network"]["state_version"] = 1

    old = _rewrite(path.read_bytes(), {
        "manifest.json": lambda m: m.update(schema_version=1),
        "session.json": old_session,
    })
    old_path = tmp_path / "old.kstudio"
    old_path.write_bytes(old)
    loaded = load_project(old_path)
    assert loaded.model.width_ == [2, 2, 1]
    X = session.dataset.X
    assert np.array_equal(loaded.model.predict(X), session.model.predict(X))


@pytest.mark.parametrize("width, message", [
    ([[1, 1], [0, 1], 1], "input nodes"),
    ([2, [0, 1, 2], 1], "width"),
    ([2, [0, True], 1], "node counts"),
])
def test_bad_product_widths_in_a_project_are_refused(product_session: Session,
                                                      tmp_path: Path, width, message) -> None:
    path = tmp_path / "p.kstudio"
    save_project(product_session, path)
    bad = _rewrite(path.read_bytes(),
                   {"session.json": lambda d: d["settings"].update(width=width)})
    path.write_bytes(bad)
    with pytest.raises(ProjectError, match=message):
        load_project(path)


def test_undo_and_redo_carry_product_nodes(product_session: Session) -> None:
    session = Session(_dataset(), SessionSettings(width=[2, [1, 1], 1], grid=3, seed=2))
    session.model = product_session.model.copy()
    session.prune_node(1, 1)  # the product node
    assert session.model.width_ == [2, 1, 1]
    session.undo()
    assert session.model.width_ == [2, [1, 1], 1]
    session.prune_edge(0, 0, 2)  # an edge into the product's second factor
    assert session.model.width_ == [2, [1, 1], 1]
    session.undo()
    session.redo()
    assert not bool(session.model.network_.layers[0].mask[0, 2])


def test_a_width_that_does_not_match_the_data_is_refused() -> None:
    session = Session(_dataset(), SessionSettings(width=[2, [0, 1], 2]))
    with pytest.raises(SessionError, match="does not match"):
        session.new_model()
    with pytest.raises(SessionError, match="input nodes"):
        session.new_model([[2, 1], 1])
