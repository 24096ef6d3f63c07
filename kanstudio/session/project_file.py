"""Save and open a whole session as a ``.kstudio`` project (design.md §4.3).

A zip of ``manifest.json`` (format, schema version, app version, created/modified),
``session.json`` (data source and column roles, settings, model description, history) and
``arrays.npz`` (the data itself and the model's arrays). Loading validates every field
before anything is built, refuses unknown schema versions, and never unpickles or
evaluates file content: formulas are not stored, they are rebuilt from the model.
Saving is atomic (see :func:`kanstudio.model.archive.write_archive`).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from kanstudio import __version__
from kanstudio.core import StateError, parse_width
from kanstudio.data import DataError, Dataset
from kanstudio.model.archive import (
    ArchiveError,
    arrays_from_bytes,
    arrays_to_bytes,
    load_json,
    read_archive,
    write_archive,
)
from kanstudio.model.kan import KAN
from kanstudio.session.session import Session, SessionError, SessionSettings

__all__ = ["ProjectError", "save_project", "load_project", "PROJECT_SCHEMA"]

PROJECT_FORMAT = "kanstudio-project"
PROJECT_SCHEMA = 2  # 2: widths in KAN 2.0 notation and product nodes (setting mult_arity)
READABLE_SCHEMAS = (1, 2)
_MEMBERS = {"manifest.json", "session.json", "arrays.npz"}

_SETTING_TYPES: dict[str, tuple[type, ...]] = {
    "width": (list, type(None)), "grid": (int,), "k": (int,), "seed": (int,),
    "device": (str,), "dtype": (str,), "steps": (int,), "opt": (str,),
    "lr": (float, int, type(None)), "lamb": (float, int), "batch_size": (int, type(None)),
    "test_fraction": (float, int), "scale_inputs": (str,), "scale_target": (str,),
    "functions": (list, type(None)), "r2_threshold": (float, int),
    "simplicity_weight": (float, int), "mult_arity": (int, list),
}
# Settings that files of schema 1 may hold but that no longer mean anything: accepted if of
# the right type, then dropped.
_RETIRED_SETTINGS: dict[str, tuple[type, ...]] = {"extra": (dict,)}


class ProjectError(ValueError):
    """A project file that cannot be opened; the message says why and what to do."""


def _json_safe(value: Any) -> Any:
    """History entries as strict JSON: non-finite floats become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return str(value)


def save_project(session: Session, path: str | os.PathLike[str],
                 created: float | None = None) -> None:
    """Write ``session`` to ``path`` atomically."""
    d = session.dataset
    now = time.time()
    if created is None:
        created = getattr(session, "created", None)
    manifest = {"format": PROJECT_FORMAT, "schema_version": PROJECT_SCHEMA,
                "app_version": __version__, "created": created or now, "modified": now}
    doc: dict[str, Any] = {
        "data": {"source_path": None if d.source_path is None else str(d.source_path),
                 "input_names": list(d.input_names), "target_names": list(d.target_names),
                 "n_dropped": int(d.n_dropped)},
        "settings": session.settings.to_dict(),
        "model": None,
        "history": _json_safe(session.history),
    }
    if session.formula_report is not None:  # status and scores only: no expression to parse
        doc["formula"] = session.formula_report
    chosen = _chosen_trees(session)
    if chosen is not None:  # Discover's formula, as trees of data (rebuilt, never parsed)
        doc["chosen_formula"] = chosen
    arrays: dict[str, np.ndarray] = {"data.X": d.X, "data.y": d.y}
    front = getattr(session, "front", None)
    if front is not None and front.entries:  # Discover's front: display data only
        doc["front"] = [e.info() for e in front.entries]
        arrays["front.actual"] = np.asarray(front.actual, dtype=np.float64)
        arrays["front.predicted"] = np.stack([e.predicted for e in front.entries])
    if session.model is not None and session.model.is_fitted:
        desc, model_arrays = session.model.to_state()
        doc["model"] = desc
        arrays.update({f"model.{k}": v for k, v in model_arrays.items()})
    write_archive(path, {"manifest.json": manifest, "session.json": _json_safe(doc)},
                  {"arrays.npz": arrays_to_bytes(arrays)})


def _names(value: Any, what: str, count: int) -> list[str]:
    if not (isinstance(value, list) and all(isinstance(v, str) and v for v in value)):
        raise ProjectError(f"{what} must be a list of non-empty names")
    if len(value) != count or len(set(value)) != len(value):
        raise ProjectError(f"{what} must list {count} distinct names")
    return value


def _settings(value: Any) -> SessionSettings:
    if not isinstance(value, dict):
        raise ProjectError("settings must be an object")
    for key, val in value.items():
        types = _SETTING_TYPES.get(key) or _RETIRED_SETTINGS.get(key)
        if types is None:
            raise ProjectError(f"unknown setting {key!r}")
        if isinstance(val, bool) or not isinstance(val, types):
            raise ProjectError(f"setting {key!r} has the wrong type ({type(val).__name__})")
    width = value.get("width")
    if width is not None:
        flat = [v for w in width for v in (w if isinstance(w, list) else [w])]
        if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 4096
                   for v in flat):
            raise ProjectError("setting 'width' must list node counts (an int or "
                               "[sums, products] per level)")
        try:
            parse_width(width, value.get("mult_arity", 2))
        except ValueError as exc:
            raise ProjectError(f"setting 'width': {exc}") from exc
    funcs = value.get("functions")
    if funcs is not None:
        if not all(isinstance(f, str) for f in funcs):
            raise ProjectError("setting 'functions' must list function names")
        from kanstudio.symbolic.library import resolve_names

        try:
            resolve_names(funcs)
        except (KeyError, ValueError) as exc:
            raise ProjectError(f"setting 'functions': {exc}") from exc
    checks = [
        ("grid", 1 <= value.get("grid", 5) <= 1000, "between 1 and 1000"),
        ("k", 0 <= value.get("k", 3) <= 10, "between 0 and 10"),
        ("steps", 0 <= value.get("steps", 1) <= 10**7, "between 0 and 10^7"),
        ("opt", value.get("opt", "lbfgs") in ("lbfgs", "adam"), "'lbfgs' or 'adam'"),
        ("dtype", value.get("dtype", "float64") in ("float32", "float64"),
         "'float32' or 'float64'"),
        ("device", value.get("device", "auto") in ("auto", "cpu", "cuda", "mps"),
         "auto, cpu, cuda or mps"),
        ("lamb", _finite_at_least(value.get("lamb", 0.0), 0.0), "a number >= 0"),
        ("lr", value.get("lr") is None or _finite_at_least(value["lr"], 1e-300), "positive"),
        ("test_fraction", 0 <= value.get("test_fraction", 0.2) < 1, "in [0, 1)"),
        ("batch_size", value.get("batch_size") is None or value["batch_size"] >= 1, ">= 1"),
        ("scale_inputs", value.get("scale_inputs", "auto") in ("none", "standard", "minmax",
                                                               "auto"), "a scaling mode"),
        ("scale_target", value.get("scale_target", "standard") in ("none", "standard",
                                                                   "minmax"), "a scaling mode"),
        ("r2_threshold", _finite_at_least(value.get("r2_threshold", 0.99), -1e300), "a number"),
        ("simplicity_weight", _finite_at_least(value.get("simplicity_weight", 0.8), 0.0),
         "a number >= 0"),
    ]
    for key, ok, what in checks:
        if not ok:
            raise ProjectError(f"setting {key!r} must be {what}, got {value.get(key)!r}")
    return SessionSettings.from_dict({k: v for k, v in value.items()
                                      if k not in _RETIRED_SETTINGS})


def _formula_report(value: Any) -> dict[str, Any] | None:
    """The saved status of the formula (absent in files written before it existed)."""
    if value is None:
        return None
    if not isinstance(value, dict) or value.get("status") not in ("verified", "approximate"):
        raise ProjectError("formula.status must be 'verified' or 'approximate'")
    if not isinstance(value.get("status_reason", ""), str):
        raise ProjectError("formula.status_reason must be text")
    for key in ("formula_test_r2", "network_test_r2", "network_difference"):
        v = value.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ProjectError(f"formula.{key} must be a number or null")
    known = {"status", "status_reason", "formula_test_r2", "network_test_r2",
             "network_difference"}
    return {k: v for k, v in value.items() if k in known}


def _number_or_none(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProjectError(f"{what} must be a number or null")
    return float(value)


def _front(value: Any, arrays: dict[str, Any]) -> Any:
    """Discover's saved front (absent in files written before it was kept): plain data
    for the list, without the networks (its formulas can be looked at, not used)."""
    if value is None:
        return None
    from kanstudio.session.front import FormulaFront, FrontEntry

    actual, predicted = arrays.get("front.actual"), arrays.get("front.predicted")
    if not (isinstance(value, list) and value and isinstance(actual, np.ndarray)
            and isinstance(predicted, np.ndarray) and actual.ndim == 1
            and predicted.shape == (len(value), actual.shape[0])
            and actual.dtype.kind == "f" and predicted.dtype.kind == "f"):
        raise ProjectError("the saved formula front is malformed")
    entries = []
    for k, item in enumerate(value):
        where = f"front[{k}]"
        if not isinstance(item, dict):
            raise ProjectError(f"{where} must be an object")
        text = [item.get(key) for key in ("formula", "latex", "status")]
        if not all(isinstance(t, str) for t in text) or text[2] not in ("verified",
                                                                         "approximate"):
            raise ProjectError(f"{where} needs formula and latex text and a status")
        short = item.get("short", "")  # absent in files written before it was kept
        if not isinstance(short, str):
            raise ProjectError(f"{where}.short must be text")
        complexity, width, wider = item.get("complexity"), item.get("width"), item.get("wider")
        if isinstance(complexity, bool) or not isinstance(complexity, int):
            raise ProjectError(f"{where}.complexity must be an integer")
        if not isinstance(width, list) or not isinstance(wider, dict):
            raise ProjectError(f"{where} needs a width list and a wider object")
        wider = {"margin": _number_or_none(wider.get("margin"), f"{where}.wider.margin"),
                 "points": int(_number_or_none(wider.get("points"), where) or 0),
                 "defined": _number_or_none(wider.get("defined"), f"{where}.wider"),
                 "r2_network": _number_or_none(wider.get("r2_network"), f"{where}.wider"),
                 "difference": _number_or_none(wider.get("difference"), f"{where}.wider"),
                 "status": "verified" if wider.get("status") == "verified"
                 else "approximate"}
        entries.append(FrontEntry(
            formula=text[0], latex=text[1], complexity=complexity,
            test_r2=_number_or_none(item.get("test_r2"), f"{where}.test_r2"),
            network_r2=_number_or_none(item.get("network_r2"), f"{where}.network_r2"),
            status=text[2], width=width, chosen=item.get("chosen") is True, wider=wider,
            predicted=predicted[k].astype(np.float64), short=short))
    return FormulaFront(entries, actual.astype(np.float64))


def _chosen_trees(session: Session) -> dict[str, Any] | None:
    """The formula Discover chose (``Session.chosen_formula``) as expression trees over the
    input columns' positions (kanstudio.symbolic.search.tree): ``exact``, ``shown`` and
    ``full`` (``shown`` with its constants at full precision), one per target; None when
    there is none or it has no tree form (the file then reopens with the network's own
    formula)."""
    from kanstudio.symbolic.search.tree import TreeError, to_tree

    result = session.chosen_formula
    if result is None or session.model is None or not session.model.is_fitted:
        return None
    names = list(result.input_names)
    try:
        trees = {"exact": [to_tree(e, names) for e in result.exact],
                 "shown": [to_tree(e, names) for e in result.expressions]}
        if len(result.full) == len(result.expressions):
            trees["full"] = [to_tree(e, names) for e in result.full]
        return trees
    except (TreeError, TypeError):
        return None


def _restore_chosen(session: Session, value: Any) -> None:
    """Rebuild Discover's formula from its trees (absent in files written before it was
    saved), scored again on the stored data; its status is the one saved with it (it was
    verified against the network Discover used as oracle)."""
    from kanstudio.symbolic.search.tree import TreeError, from_tree

    if value is None:
        return
    n_out = session.dataset.n_outputs
    if not (isinstance(value, dict) and all(
            isinstance(value.get(k), list) and len(value[k]) == n_out
            for k in ("exact", "shown"))):
        raise ProjectError(f"chosen_formula must hold 'exact' and 'shown': {n_out} "
                           "expression tree(s) each")
    if session.model is None or not session.model.is_fitted:
        raise ProjectError("chosen_formula needs the trained model it was chosen for")
    try:
        exact = [from_tree(t, session.symbols) for t in value["exact"]]
        shown = [from_tree(t, session.symbols) for t in value["shown"]]
        # files written before "full" was saved: the constants shown are the ones listed
        full = value.get("full")
        if full is not None and not (isinstance(full, list) and len(full) == n_out):
            raise ProjectError(f"chosen_formula 'full' must hold {n_out} expression tree(s)")
        full = None if full is None else [from_tree(t, session.symbols) for t in full]
    except (TreeError, TypeError) as exc:
        raise ProjectError(f"chosen_formula: {exc}") from exc
    report = session.formula_report
    result = session.describe_formula(exact, shown=shown, full=full)
    if report is not None:
        result.status = report["status"]
        result.status_reason = report.get("status_reason", result.status_reason)
        difference = report.get("network_difference")
        result.network_difference = math.nan if difference is None else float(difference)
    session.pin_formula(result)


def _finite_at_least(value: Any, lo: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value >= lo


def load_project(path: str | os.PathLike[str], device: str | None = None) -> Session:
    """Open a project; raises :class:`ProjectError` with a one-line reason if refused."""
    try:
        members = read_archive(path, _MEMBERS, required=_MEMBERS)
        manifest = _manifest(members["manifest.json"])
        doc = load_json(members["session.json"], "session.json")
        if not isinstance(doc, dict):
            raise ProjectError("session.json must be an object")
        arrays = arrays_from_bytes(members["arrays.npz"])
        dataset = _dataset(doc.get("data"), arrays)
        settings = _session_settings(doc.get("settings"), dataset, device)
        session = Session(dataset, settings)
        if doc.get("model") is not None:
            session.model = _model(doc["model"], arrays, dataset, settings.device)
        history = doc.get("history", [])
        if not (isinstance(history, list) and all(isinstance(h, dict) for h in history)):
            raise ProjectError("history must be a list of objects")
        session.history = history
        session.formula_report = _formula_report(doc.get("formula"))
        session.front = _front(doc.get("front"), arrays)
        _restore_chosen(session, doc.get("chosen_formula"))
        session.created = _created(manifest)
        return session
    except ProjectError:
        raise
    except (ArchiveError, StateError, SessionError, DataError) as exc:
        raise ProjectError(str(exc)) from exc
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise ProjectError(f"the project file is malformed: {exc}") from exc


def _manifest(raw: bytes) -> dict[str, Any]:
    """The manifest, refused unless it is a KAN Studio project of the schema we read."""
    manifest = load_json(raw, "manifest.json")
    if not isinstance(manifest, dict) or manifest.get("format") != PROJECT_FORMAT:
        raise ProjectError("this is not a KAN Studio project (manifest format differs)")
    version = manifest.get("schema_version")
    if isinstance(version, bool) or version not in READABLE_SCHEMAS:
        raise ProjectError(
            f"project schema version {version!r} is not supported by KAN Studio "
            f"{__version__} (it reads versions "
            f"{', '.join(map(str, READABLE_SCHEMAS))}); update the app")
    return manifest


def _dataset(data: Any, arrays: dict[str, Any]) -> Dataset:
    """The stored data (arrays ``data.X``, ``data.y``) with its names, source and count of
    dropped rows, each checked."""
    X, y = arrays.get("data.X"), arrays.get("data.y")
    if not (isinstance(X, np.ndarray) and isinstance(y, np.ndarray) and X.ndim == 2
            and y.ndim == 2 and X.shape[0] == y.shape[0] and X.dtype.kind == "f"
            and y.dtype.kind == "f"):
        raise ProjectError("the stored data arrays are missing or malformed")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise ProjectError("the stored data contains NaN or infinite values")
    if not isinstance(data, dict):
        raise ProjectError("session.json lacks the 'data' section")
    inputs = _names(data.get("input_names"), "input_names", X.shape[1])
    targets = _names(data.get("target_names"), "target_names", y.shape[1])
    source = data.get("source_path")
    if source is not None and not isinstance(source, str):
        raise ProjectError("data.source_path must be a string")
    dataset = Dataset.from_arrays(X.astype(np.float64), y.astype(np.float64), inputs,
                                  targets)
    dataset.source_path = None if source is None else Path(source)
    n_dropped = data.get("n_dropped", 0)
    if isinstance(n_dropped, bool) or not isinstance(n_dropped, int) or n_dropped < 0:
        raise ProjectError("data.n_dropped must be a non-negative integer")
    dataset.n_dropped = n_dropped
    return dataset


def _session_settings(raw: Any, dataset: Dataset, device: str | None) -> SessionSettings:
    """The stored settings, checked against the data; ``device`` (if given) replaces the
    stored one, and a device this machine lacks becomes "auto"."""
    from kanstudio.core import resolve_device

    settings = _settings(raw)
    nodes = (None if settings.width is None
             else parse_width(settings.width, settings.mult_arity).nodes)
    if nodes is not None and (nodes[0] != dataset.n_inputs
                              or nodes[-1] != dataset.n_outputs):
        raise ProjectError(f"setting 'width' {settings.width} does not match the data")
    if device is not None:
        settings.device = device
    try:
        resolve_device(settings.device)
    except ValueError:  # saved on a GPU machine, opened on one without: use what exists
        settings.device = "auto"
    return settings


def _model(desc: Any, arrays: dict[str, Any], dataset: Dataset, device: str) -> KAN:
    """The stored model (arrays ``model.*``), refused unless it fits the stored data."""
    model_arrays = {k[len("model."):]: v for k, v in arrays.items() if k.startswith("model.")}
    model = KAN.from_state(desc, model_arrays, device=device)
    if (model.n_features_in_ != dataset.n_inputs
            or model.network_.width[-1] != dataset.n_outputs):
        raise ProjectError("the stored model does not match the stored data")
    return model


def _created(manifest: dict[str, Any]) -> float | None:
    created = manifest.get("created")
    if created is not None and (isinstance(created, bool)
                                or not isinstance(created, (int, float))
                                or not math.isfinite(created)):
        raise ProjectError("manifest 'created' must be a time stamp")
    return created
