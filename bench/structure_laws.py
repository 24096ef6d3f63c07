"""Does the structure step help on laws the defaults were never tuned on?

Fifteen physics/biology laws that are not in ``sample_datasets/`` (Coulomb, ideal gas,
kinetic energy, relativistic mass, a Gaussian with its width, Doppler, interference,
gravitation, distance, a thin lens, mechanical energy, RC decay, Kepler's third law,
relativistic velocity addition, Michaelis-Menten), 1,000 seeded rows each. Each law is
discovered with the structure step, in process (the pipeline ``kanstudio fit``
runs), once: the formula just before the structure step (the pipeline as it was: the
step runs last and changes nothing before it) and the one after it. Per formula:

* exact: the formula equals the law to 1e-6 (relative to the law's largest value) at
  2,000 fresh points of the input box;
* R² on those fresh points, and on a box 25 % wider (each side of each range);
* seconds.

    nice -n 10 python bench/structure_laws.py [--only coulomb,...] [--seed 0] [--json F]
        [--verbose]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import sympy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kanstudio.data import Dataset  # noqa: E402
from kanstudio.session import Session, pipeline  # noqa: E402
from kanstudio.session.pipeline import PipelineSettings, discover  # noqa: E402

# name: (formula over its inputs, {input: (low, high)})
LAWS: dict[str, tuple[str, dict[str, tuple[float, float]]]] = {
    "coulomb": ("q1*q2/(4*pi*eps*r**2)",
                {"q1": (1, 5), "q2": (1, 5), "eps": (1, 5), "r": (1, 5)}),
    "ideal_gas": ("n*8.314*T/V", {"n": (1, 5), "T": (1, 5), "V": (1, 5)}),
    "kinetic": ("m*v**2/2", {"m": (1, 5), "v": (1, 5)}),
    "rel_mass": ("m0/sqrt(1 - v**2/c**2)", {"m0": (1, 5), "v": (1, 2), "c": (3, 10)}),
    "gaussian": ("exp(-(x/s)**2/2)/(sqrt(2*pi)*s)", {"x": (1, 3), "s": (1, 3)}),
    "doppler": ("f*sqrt((c + v)/(c - v))", {"f": (1, 5), "v": (1, 2), "c": (3, 10)}),
    "interference": ("I1 + I2 + 2*sqrt(I1*I2)*cos(delta)",
                     {"I1": (1, 5), "I2": (1, 5), "delta": (1, 5)}),
    "gravitation": ("6.674*m1*m2/r**2", {"m1": (1, 5), "m2": (1, 5), "r": (1, 5)}),
    "distance": ("sqrt((x2 - x1)**2 + (y2 - y1)**2)",
                 {"x1": (1, 5), "x2": (1, 5), "y1": (1, 5), "y2": (1, 5)}),
    "lens": ("d1*d2/(d1 + d2)", {"d1": (1, 5), "d2": (1, 5)}),
    "mech_energy": ("k*x**2/2 + m*v**2/2", {"k": (1, 5), "x": (1, 5), "m": (1, 5),
                                             "v": (1, 5)}),
    "rc_decay": ("V0*exp(-t/(R*C))", {"V0": (1, 5), "t": (1, 5), "R": (1, 5), "C": (1, 5)}),
    "kepler": ("2*pi*sqrt(a**3/M)", {"a": (1, 5), "M": (1, 5)}),
    "velocity_add": ("(u + v)/(1 + u*v/c**2)", {"u": (1, 2), "v": (1, 2), "c": (3, 10)}),
    "michaelis": ("Vmax*S/(Km + S)", {"Vmax": (1, 5), "S": (1, 5), "Km": (1, 5)}),
}


def _law(name: str):
    text, ranges = LAWS[name]
    symbols = [sympy.Symbol(n) for n in ranges]
    # Our own fixed strings, not user input: parsing them is safe.
    truth = sympy.sympify(text, locals={s.name: s for s in symbols})
    return truth, symbols, ranges


def _rows(ranges: dict, n: int, rng: np.random.Generator, widen: float = 0.0) -> np.ndarray:
    cols = []
    for lo, hi in ranges.values():
        pad = widen * (hi - lo)
        cols.append(rng.uniform(max(lo - pad, lo * 0.5 if lo > 0 else lo - pad), hi + pad, n))
    return np.column_stack(cols)


def _values(expr: sympy.Expr, symbols: list, X: np.ndarray) -> np.ndarray:
    try:
        fn = sympy.lambdify(symbols, expr, modules="numpy")
        with np.errstate(all="ignore"):
            v = np.asarray(fn(*X.T), dtype=complex)
    except (TypeError, ValueError, NameError, AttributeError) as exc:
        print(f"  cannot evaluate {expr}: {exc}", file=sys.stderr)
        return np.full(X.shape[0], np.nan, dtype=complex)
    return np.broadcast_to(v, (X.shape[0],))


def _r2(y: np.ndarray, f: np.ndarray) -> float:
    if not np.all(np.isfinite(f)) or np.any(np.abs(f.imag) > 1e-9 * (np.abs(f.real) + 1)):
        return -math.inf
    ss = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - f.real) ** 2)) / ss


def _score(name: str, seed: int, session: Session, result, seconds: float,
           structure: bool) -> dict:
    truth, symbols, ranges = _law(name)
    expr = result.expressions[0].xreplace(
        {sympy.Symbol(a): sympy.Symbol(b) for a, b in zip(session.symbols, ranges,
                                                           strict=True)})
    # the constants as printed (what the JSON's formula text says), at double precision
    expr = expr.xreplace({f: sympy.Float(float(str(f))) for f in expr.atoms(sympy.Float)})
    fresh = np.random.default_rng(seed + 1000)
    X_in, X_wide = _rows(ranges, 2000, fresh), _rows(ranges, 2000, fresh, widen=0.25)
    t_wide = _values(truth, symbols, X_wide)
    X_wide = X_wide[np.isfinite(t_wide) & (np.abs(t_wide.imag) < 1e-12)]  # truth defined
    y_in, y_wide = _values(truth, symbols, X_in).real, _values(truth, symbols, X_wide).real
    f_in = _values(expr, symbols, X_in)
    err = np.max(np.abs(f_in - y_in)) / np.max(np.abs(y_in))
    return {"law": name, "structure": structure, "formula": str(expr),
            "exact": bool(np.isfinite(err) and err <= 1e-6),
            "r2": _r2(y_in, f_in), "r2_wide": _r2(y_wide, _values(expr, symbols, X_wide)),
            "seconds": round(seconds, 1)}


def run_law(name: str, seed: int, verbose: bool = False) -> tuple[dict, dict]:
    """The pipeline with the structure step, and its formula just before that step (the
    pipeline without it: the step runs last and changes nothing before it)."""
    truth, symbols, ranges = _law(name)
    rng = np.random.default_rng(seed)
    X = _rows(ranges, 1000, rng)
    y = _values(truth, symbols, X).real
    session = Session(Dataset.from_arrays(X, y, [s.name for s in symbols], ["y"]))
    session.settings.seed = seed
    before: dict = {}
    original = pipeline._structure_candidate

    def spy(run, attempts, result):
        if run.session is session:  # not a short run on a part, inside the step
            before["result"], before["seconds"] = result, time.perf_counter() - start
        return (yield from original(run, attempts, result))

    pipeline._structure_candidate = spy
    start = time.perf_counter()
    result = None
    try:
        for event in discover(session, PipelineSettings(structure=True)):
            result = event.info.get("formula", result)
            if verbose and event.message.startswith("structure"):
                print(f"  {name}: {event.message}", file=sys.stderr, flush=True)
    finally:
        pipeline._structure_candidate = original
    seconds = time.perf_counter() - start
    return (_score(name, seed, session, before["result"], before["seconds"], False),
            _score(name, seed, session, result, seconds, True))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated law names")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="", help="write every row to this JSON file")
    ap.add_argument("--verbose", action="store_true", help="print the structure step's notes")
    args = ap.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(LAWS)
    rows = []
    print(f"{'law':<14}{'before':>8}{'R²':>10}{'s':>6}   {'after':>6}{'R²':>10}{'R² wide':>10}"
          f"{'s':>6}   formula after")
    for name in names:
        before, after = run_law(name, args.seed, args.verbose)
        rows += [before, after]
        print(f"{name:<14}{'exact' if before['exact'] else '-':>8}{before['r2']:>10.6f}"
              f"{before['seconds']:>6.0f}   {'exact' if after['exact'] else '-':>6}"
              f"{after['r2']:>10.6f}{after['r2_wide']:>10.4f}{after['seconds']:>6.0f}   "
              f"{after['formula']}", flush=True)
    for flag, label in ((False, "before"), (True, "after")):
        got = [r for r in rows if r["structure"] is flag]
        print(f"{label}: exact {sum(r['exact'] for r in got)}/{len(got)}, "
              f"R² >= 0.999 on {sum(r['r2'] >= 0.999 for r in got)}/{len(got)}, "
              f"median {statistics.median(r['seconds'] for r in got):.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
