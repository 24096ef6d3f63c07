"""Hypothesis strategies: CSV files as labs write them, then damaged; project files
mutated from a valid one."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

NA_WORDS = ["NA", "n/a", "N/A", "#N/A", "#DIV/0!", "-", "NaN", "nan", "null", "None", "?",
            "", " ", "--", "#VALUE!", "missing"]
INF_WORDS = ["inf", "-inf", "+inf", "Inf", "Infinity", "-Infinity", "INF", "1e999", "-1e400"]
DELIMITERS = [",", ",", ",", ";", "\t", "|", " ", ":"]  # weighted to those a lab uses
LINE_ENDS = ["\n", "\r\n", "\r"]
ENCODINGS = ["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be",
             "latin-1", "cp1252"]

# Every finite double: subnormals (5e-324) up to ±1.8e308, and the awkward ones near them.
finite = st.floats(allow_nan=False, allow_infinity=False)
edge_values = st.sampled_from([5e-324, -5e-324, 2.2250738585072014e-308, 1e-310,
                               1.7976931348623157e308, -1.7976931348623157e308, 1e308,
                               -1e308, 1e154, 0.0, -0.0, 1e-300])
moderate = st.floats(-1e3, 1e3, allow_nan=False)


def _number_text(value: float, style: int) -> str:
    if style == 0:
        return repr(value)
    if style == 1:
        return f"{value:.4g}"
    if style == 2:
        return f"{value:e}"
    if style == 3 and math.isfinite(value) and abs(value) < 1e15:
        return str(int(value))
    return f" {value!r} "  # padded


header_names = st.one_of(
    st.sampled_from(["a", "b", "x", "y", "target", "x 1", "", "a", "y", "1", "naïve",
                     "μ [kg]", "NA", "x-y", "class", "lambda", "é,è"]),
    st.text(max_size=12),
    st.integers(200, 3000).map(lambda n: "h" * n),  # a very long header
)

junk_cells = st.one_of(
    st.sampled_from(NA_WORDS), st.sampled_from(INF_WORDS),
    st.text(max_size=8),
    st.integers(500, 5000).map(lambda n: "9" * n),  # a very long field (a huge number)
    st.integers(500, 5000).map(lambda n: "z" * n),
    st.sampled_from(["1,5", "1.2.3", "0x1F", "1e", "--1", "1_000", "١٢", "½", "TRUE"]),
)


@st.composite
def _column(draw, n_rows: int, smooth: np.ndarray) -> list[str]:
    kind = draw(st.sampled_from(["smooth"] * 5 + ["finite", "edge", "mixed", "constant"]))
    style = draw(st.integers(0, 4))
    if kind == "smooth":
        scale = draw(st.sampled_from([1.0, 1.0, 1e-300, 1e-310, 1e150, 1e300, 1e-5, 1e8]))
        return [_number_text(float(v * scale), style) for v in smooth]
    if kind == "constant":
        value = draw(st.one_of(moderate, edge_values))
        return [_number_text(value, style)] * n_rows
    cells = []
    for v in smooth:
        if kind == "finite":
            cell = _number_text(draw(finite), style)
        elif kind == "edge":
            cell = _number_text(draw(st.one_of(edge_values, st.just(float(v)))), style)
        else:
            cell = draw(st.one_of(st.just(_number_text(float(v), style)), junk_cells,
                                  finite.map(repr)))
        cells.append(cell)
    return cells


def _quote(cell: str, how: int) -> str:
    if how == 1:
        return '"' + cell.replace('"', '""') + '"'
    if how == 2:
        return '"' + cell  # an unbalanced quote
    return cell


@st.composite
def csv_texts(draw) -> tuple[str, str]:
    """(text, encoding) of a CSV with a header row, before any byte-level damage."""
    # Hypothesis favours the first choices: the common case comes first, the rare last.
    n_cols = draw(st.sampled_from([3, 2, 4, 1]))
    n_rows = draw(st.sampled_from([20, 12, 30, 10, 9, 2, 1, 0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    inputs = rng.uniform(-2.0, 2.0, size=(n_rows, max(n_cols - 1, 1)))
    target = np.sin(inputs[:, 0]) + inputs[:, -1] ** 2
    smooth = np.column_stack([inputs, target])[:, -n_cols:] if n_rows else np.zeros((0, n_cols))
    plain = ["x1", "x2", "x3", "y"][-n_cols:]
    names = [draw(header_names) if draw(st.integers(0, 4)) == 4 else name for name in plain]
    columns = [draw(_column(n_rows, smooth[:, c])) for c in range(n_cols)]
    delimiter = draw(st.sampled_from(DELIMITERS))
    quoting = draw(st.sampled_from([0, 0, 0, 1, 1, 2]))  # none, some quoted, some unbalanced
    lines = []
    for row in [names, *zip(*columns, strict=True)] if columns else [names]:
        cells = [_quote(c, draw(st.sampled_from([0, quoting]))) for c in row]
        lines.append(delimiter.join(cells) + (delimiter if draw(st.integers(0, 9)) == 9 else ""))
    text = ""
    for line in lines:
        if draw(st.integers(0, 9)) == 9:
            text += draw(st.sampled_from(LINE_ENDS))  # a blank line
        text += line + draw(st.sampled_from(LINE_ENDS) if draw(st.booleans()) else st.just("\n"))
    return text, draw(st.sampled_from(ENCODINGS))


@st.composite
def damaged(draw, data: bytes, max_ops: int = 3) -> bytes:
    """``data`` with a few byte-level mutations: flips, truncation, NULs, cuts, inserts."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(0, max_ops))):
        op = draw(st.sampled_from(["flip", "truncate", "nul", "cut", "insert", "swap"]))
        at = draw(st.integers(0, max(len(buf) - 1, 0)))
        if op == "flip" and buf:
            buf[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del buf[at:]
        elif op == "nul":
            buf[at:at] = b"\x00" * draw(st.integers(1, 3))
        elif op == "cut":
            del buf[at:at + draw(st.integers(1, 64))]
        elif op == "insert":
            buf[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "swap" and buf:
            other = draw(st.integers(0, len(buf) - 1))
            buf[at], buf[other] = buf[other], buf[at]
    return bytes(buf)


@st.composite
def csv_files(draw) -> bytes:
    """The bytes of a CSV file: generated, encoded, then (sometimes) damaged."""
    text, encoding = draw(csv_texts())
    data = text.encode(encoding, errors="replace")
    return draw(damaged(data)) if draw(st.integers(0, 3)) == 3 else data


# ---------------------------------------------------------------------------- projects
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), finite,
              st.sampled_from([0, -1, 1, 2, 1e308, -1e308, 5e-324, "x", "", "auto", "sin",
                               "float64", "float16", "cuda", "../../x"]),
              st.text(max_size=6)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8,
)


def _paths(value, prefix=()):
    """Every path (tuple of keys/indices) into a JSON value."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


@st.composite
def mutated_json(draw, doc):
    """``doc`` with one value replaced, removed, or a key added, somewhere inside."""
    import copy

    doc = copy.deepcopy(doc)
    paths = [p for p in _paths(doc) if p]
    path = draw(st.sampled_from(paths))
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    op = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
    if op == "replace":
        parent[path[-1]] = draw(JSON_VALUES)
    elif op == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=8))] = draw(JSON_VALUES)
    else:
        parent.append(draw(JSON_VALUES))
    return doc


@st.composite
def mutated_arrays(draw, arrays: dict):
    """The project's arrays with one changed: shape, dtype, values, or presence."""
    arrays = dict(arrays)
    name = draw(st.sampled_from(sorted(arrays)))
    value = arrays[name]
    op = draw(st.sampled_from(["dtype", "shape", "values", "delete", "add", "empty",
                               "transpose"]))
    if op == "dtype":
        dtype = draw(st.sampled_from(["float32", "float16", "int64", "int8", "bool",
                                      "complex128", "U3", "object", ">f8", "uint8"]))
        arrays[name] = value.astype(dtype)
    elif op == "shape":
        extra = draw(st.integers(-3, 3))
        flat = value.reshape(-1)
        size = max(flat.size + extra, 0)
        arrays[name] = np.resize(flat, size).reshape(
            draw(st.sampled_from([(size,), (size, 1), (1, size)])))
    elif op == "values":
        out = value.astype(np.float64, copy=True).reshape(-1)
        if out.size:
            out[draw(st.integers(0, out.size - 1))] = draw(st.one_of(
                finite, st.sampled_from([np.nan, np.inf, -np.inf, 1e308, 0.0, -1.0, 5e-324])))
        arrays[name] = out.reshape(value.shape)
    elif op == "delete":
        del arrays[name]
    elif op == "add":
        arrays[draw(st.sampled_from(["model.extra", "data.z", name + "x"]))] = value
    elif op == "empty":
        arrays[name] = np.zeros((0,) + value.shape[1:], dtype=value.dtype)
    else:
        arrays[name] = value.T.copy()
    return arrays
