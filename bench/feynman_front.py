"""Judge rules for choosing a formula from kanstudio's accuracy-complexity front, on the
fronts a ``bench/feynman.py --out`` run stored (no fits run).

Each row of such a file holds the law's front (``pareto``: formula, complexity, held-out
R² on the app's own test rows, status, which one was chosen). A rule sees only that (what
the app knows) and picks one entry; the entry is then scored as the benchmark scores a
formula (exact after snapping, R² on fresh points in the box and on the 25 % wider box).
Choose a rule's setting on the tune half and read the test half.

    python bench/feynman_front.py RESULTS.json [MORE.json ...] [--adequate 1e-3,1e-4] [--stand-ins]

Rules printed, each per half: exact laws, R² >= 0.999 (in the box; "wider": also on the
25 % wider box) and formulas shown as verified that are not the law:

* ``as run``: the entry kanstudio chose (checks that the stored fronts score as the run did);
* ``adequate A``: keep the chosen entry when its held-out ``1 - R²`` is at most ``A``;
  otherwise take the simplest more complex entry with ``1 - R²`` at most ``A`` and under
  half the chosen one's, if any (the pipeline's rule,
  :func:`kanstudio.session.pipeline.adequate_choice`, with ``A`` its ``adequate_error``).
  An entry it picks other than the one the run chose counts as "approximate", as the
  pipeline never lets the rule's pick say "verified".
* ``... no stand-ins`` (``--stand-ins``): the same, but an entry holding a function in its
  Taylor regime on the law's rows (:func:`kanstudio.symbolic.regime.taylor_regime`, the
  rows regenerated as the run made them) may not be the rule's pick, and counts as
  "approximate" wherever it is picked (the pipeline's trust rule since it was added).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from feynman import make_rows
from feynman_score import load_equations, parse_formula, score_formula

from kanstudio.session.pipeline import adequate_choice
from kanstudio.symbolic.regime import taylor_regime


def pick_as_run(front: list[dict]) -> int | None:
    return next((i for i, e in enumerate(front) if e.get("chosen")), None)


def pick_adequate(front: list[dict], threshold: float,
                  eligible: list[bool] | None = None) -> int | None:
    chosen = pick_as_run(front)
    if chosen is None:
        return None
    points = [(e["complexity"], e["test_r2"] if e["test_r2"] is not None else float("-inf"))
              for e in front]
    return adequate_choice(points, chosen, threshold, eligible)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="bench/feynman.py --out files")
    parser.add_argument("--adequate", default="1e-3",
                        help="held-out 1 - R² thresholds to try, comma-separated")
    parser.add_argument("--show", action="store_true", help="print every law a rule changes")
    parser.add_argument("--stand-ins", action="store_true",
                        help="also each rule with stand-ins (Taylor regime) refused")
    args = parser.parse_args(argv)
    equations = {e.name: e for e in load_equations()}
    rows, seed, noise = [], 0, 0.0
    for path in args.results:
        saved = json.loads(Path(path).read_text(encoding="utf-8"))
        seed = saved["settings"].get("seed") or 0
        noise = saved["settings"].get("noise") or 0.0
        rows += saved["rows"]
    flags: dict[tuple[str, str], bool] = {}
    inputs: dict[str, object] = {}  # a law's rows, made once for all its front's entries

    def stand_in(row: dict, entry: dict) -> bool:
        key = (row["name"], entry["formula"])
        if key not in flags:
            equation = equations[row["name"]]
            if equation.name not in inputs:
                inputs[equation.name] = make_rows(equation, seed, noise)[0]
            x = inputs[equation.name]
            symbols = equation.symbols()
            try:
                expr = parse_formula(entry["formula"], {n: n for n in equation.names},
                                     symbols)
                flags[key] = taylor_regime(expr, [symbols[n] for n in equation.names],
                                           x) is not None
            except Exception:  # noqa: BLE001 - unreadable: not shown to be a stand-in
                flags[key] = False
        return flags[key]

    def refusing(rule):
        def pick(front: list[dict], row: dict) -> int | None:
            return rule(front, row, [not stand_in(row, e) for e in front])
        return pick

    # (label, rule, whether it refuses stand-ins)
    rules = [("as run", lambda front, row, eligible=None: pick_as_run(front), False)] + [
        (f"adequate {t}", lambda front, row, eligible=None, t=float(t):
         pick_adequate(front, t, eligible), False) for t in args.adequate.split(",")]
    if args.stand_ins:
        rules += [(f"{label}, no stand-ins", refusing(rule), True) for label, rule, _ in rules]
    cache: dict[tuple[str, str], dict] = {}

    def score(row: dict, entry: dict) -> dict:
        key = (row["name"], entry["formula"])
        if key not in cache:
            equation = equations[row["name"]]
            try:
                expr = parse_formula(entry["formula"], {n: n for n in equation.names},
                                     equation.symbols())
                cache[key] = score_formula(expr, equation, seed)
            except Exception as exc:  # noqa: BLE001 - an unreadable entry scores nothing
                cache[key] = {"exact": False, "r2": None, "error": str(exc)}
        return cache[key]

    halves = sorted({r["half"] for r in rows})
    for label, rule, refuses in rules:
        figures = []
        for half in halves:
            subset = [r for r in rows if r["half"] == half]
            exact = good = wide = claimed = 0
            for row in subset:
                front = row.get("pareto") or []
                index = rule(front, row) if front else None
                if index is None:  # no front (timeout, crash): what the run recorded
                    result = row
                else:
                    result = score(row, front[index])
                    if args.show and not front[index].get("chosen"):
                        was = score(row, front[pick_as_run(front)])
                        print(f"  {label}: {row['name']}: {was.get('r2')} -> "
                              f"{result.get('r2')} (exact {was.get('exact')} -> "
                              f"{result.get('exact')}) {front[index]['formula'][:70]}")
                exact += bool(result.get("exact"))
                r2, r2_wide = result.get("r2"), result.get("r2_wide")
                good += isinstance(r2, float) and r2 >= 0.999
                wide += isinstance(r2_wide, float) and r2_wide >= 0.999
                status = front[index]["status"] if index is not None else \
                    row.get("formula_status")
                if index is not None and not front[index].get("chosen"):
                    status = "approximate"  # the pipeline never verifies the rule's pick
                if index is not None and refuses and stand_in(row, front[index]):
                    status = "approximate"  # the trust rule
                claimed += status == "verified" and not result.get("exact")
            n = len(subset)
            figures.append(f"{half} exact {exact}/{n}, R²>=0.999 {good}/{n} "
                           f"({100 * good / n:.1f} %), wider {wide}, verified-not-exact "
                           f"{claimed}")
        print(f"{label:16} " + "  |  ".join(figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
