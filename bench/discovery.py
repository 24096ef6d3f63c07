"""Discovery quality on the bundled sample datasets: is the known formula recovered?

For every dataset in ``sample_datasets/catalog.json`` this runs the default discovery,
one dataset at a time, and prints whether the formula is recovered *exactly* (the tidy
formula minus the catalogue's formula simplifies to 0, also after turning the formula's
remaining floats into rationals), the formula's R² on the held-out rows, the width after
pruning and the seconds taken; then the totals (exact count, median seconds).

By default it runs the real command a user runs, in a subprocess::

    kanstudio fit DATA.csv --target T --out result.json --quiet

and reads the JSON it writes; ``--in-process`` calls ``kanstudio.session.pipeline.discover``
directly instead (no interpreter start-up, same pipeline). Seconds are the pipeline's own
(the JSON's ``seconds``); wall-clock seconds of the subprocess are printed beside them.

    python bench/discovery.py [--in-process] [--seed 0] [--only toy_sin.csv,...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import sympy

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_datasets"


def _numerically_equal(got: sympy.Expr, truth: sympy.Expr, entry: dict) -> bool:
    """Same values (to 1e-6) at 50 random points of the catalogue's input ranges: a cheap
    test that spares ``simplify`` (minutes on a large wrong formula) when they differ."""
    names = list(entry["ranges"])
    symbols = [sympy.Symbol(n) for n in names]
    if not got.free_symbols <= set(symbols):
        return False
    rng = np.random.default_rng(0)
    points = [rng.uniform(*entry["ranges"][n], 50) for n in names]
    with np.errstate(all="ignore"):
        a = np.broadcast_to(sympy.lambdify(symbols, got, "numpy")(*points), (50,))
        b = np.broadcast_to(sympy.lambdify(symbols, truth, "numpy")(*points), (50,))
    return bool(np.all(np.abs(a - b) <= 1e-6 * (1.0 + np.abs(b))))


def is_exact(got: sympy.Expr, truth: sympy.Expr, entry: dict) -> bool:
    """True when ``got`` is the same formula as ``truth`` (symbolically, not numerically).

    An input whose catalogue range is positive is a positive symbol for ``simplify``, so
    that ``sqrt(a)/sqrt(b)`` equals ``sqrt(a/b)`` there (as bench/feynman_score.py does)."""
    try:
        if not _numerically_equal(got, truth, entry):
            return False
        positive = {sympy.Symbol(n): sympy.Symbol(n, positive=True)
                    for n, (low, _high) in entry["ranges"].items() if low > 0}
        got, truth = got.subs(positive), truth.subs(positive)
        if sympy.simplify(got - truth) == 0:
            return True
        rational = sympy.nsimplify(got, rational=True)  # 2.0 -> 2, 0.5 -> 1/2; 1.003 stays
        return sympy.simplify(sympy.expand(rational) - sympy.expand(truth)) == 0
    except (TypeError, ValueError, RecursionError, AttributeError):
        return False


def run_cli(entry: dict, seed: int, workdir: Path, timeout: float) -> dict:
    out = workdir / f"{Path(entry['file']).stem}.json"
    program = shutil.which("kanstudio")
    command = [program] if program else [sys.executable, "-m", "kanstudio"]
    command += ["fit", str(SAMPLES / entry["file"]), "--target", entry["target"],
                "--out", str(out), "--seed", str(seed), "--quiet"]
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"exit code {proc.returncode}: {tail}")
    result = json.loads(out.read_text(encoding="utf-8"))
    return {
        # Our own output, written a moment ago by the command under test.
        "formula": sympy.sympify(result["formula"]),
        "r2": result["formula_test_r2"], "width": result["width"],
        "seconds": result["seconds"], "wall": wall,
    }


def run_in_process(entry: dict, seed: int) -> dict:
    from kanstudio.data import load_dataset
    from kanstudio.session import Session, SessionSettings
    from kanstudio.session.pipeline import discover

    dataset = load_dataset(SAMPLES / entry["file"], target=entry["target"])
    session = Session(dataset, SessionSettings(seed=seed))
    start = time.perf_counter()
    events = list(discover(session))
    seconds = time.perf_counter() - start
    result = events[-1].info["formula"]
    return {"formula": result.expressions[0], "r2": result.formula_test_r2,
            "width": session.model.width_, "seconds": seconds, "wall": seconds}


def _short(expr: sympy.Expr, width: int = 90) -> str:
    text = str(expr)
    return text if len(text) <= width else text[: width - 3] + "..."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-process", action="store_true",
                        help="call discover() in this process instead of `kanstudio fit`")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", help="comma-separated dataset files to run")
    parser.add_argument("--timeout", type=float, default=600.0, help="per dataset, seconds")
    args = parser.parse_args(argv)

    catalog = json.loads((SAMPLES / "catalog.json").read_text(encoding="utf-8"))
    if args.only:
        wanted = {name.strip() for name in args.only.split(",")}
        catalog = [e for e in catalog if e["file"] in wanted]
    mode = "in-process discover()" if args.in_process else "kanstudio fit (subprocess)"
    print(f"discovery benchmark: {len(catalog)} datasets, {mode}, seed {args.seed}")
    print(f"{'dataset':24s} {'exact':5s} {'R² test':>12s} {'sec':>6s} {'wall':>6s}  "
          f"{'width':14s} formula")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for entry in catalog:
            truth = sympy.sympify(entry["formula"])  # trusted: the repository's catalogue
            try:
                res = (run_in_process(entry, args.seed) if args.in_process
                       else run_cli(entry, args.seed, Path(tmp), args.timeout))
            except (RuntimeError, subprocess.TimeoutExpired, OSError, KeyError,
                    ValueError) as exc:
                print(f"{entry['file']:24s} ERROR {exc}")
                rows.append((False, float("nan")))
                continue
            exact = is_exact(res["formula"], truth, entry)
            rows.append((exact, res["seconds"]))
            print(f"{entry['file']:24s} {'yes' if exact else 'no':5s} {res['r2']:12.8f} "
                  f"{res['seconds']:6.1f} {res['wall']:6.1f}  {str(res['width']):14s} "
                  f"{_short(res['formula'])}", flush=True)
    seconds = [s for _, s in rows if s == s]
    n_exact = sum(e for e, _ in rows)
    median = statistics.median(seconds) if seconds else float("nan")
    print(f"exact {n_exact} of {len(rows)}; median {median:.1f} s, "
          f"total {sum(seconds):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
