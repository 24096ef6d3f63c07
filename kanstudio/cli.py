"""The ``kanstudio`` command: headless discovery (``fit``), many at once (``sweep``, in
kanstudio/sweep/), formula export (``export``).

Exit codes (design.md §4.1): 0 success, 2 bad input (one line on stderr saying why),
1 internal error. Heavy imports (torch, sympy) happen inside the commands so that
``kanstudio --version`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kanstudio import __version__

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


class BadInputError(Exception):
    """A problem with what the user gave us; printed as one line, exit code 2."""


def _width(text: str) -> list:
    """``2,5,1``; product nodes in KAN 2.0 notation as ``2,0+1,1`` (sums+products) or
    ``"2,[0,1],1"`` -> ``[2, [0, 1], 1]``."""
    from kanstudio.core.width import parse_width, parse_width_text

    try:
        values = parse_width_text(text)
        parse_width(values)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{exc} (expected e.g. 2,5,1 or, with product nodes, 2,0+1,1)") from exc
    return values


def _name_list(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (exit 2), as design.md §4.1 asks."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"kanstudio: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kanstudio",
        description="KAN Studio: discover formulas from data with Kolmogorov-Arnold Networks.",
    )
    parser.add_argument("--version", action="version", version=f"kanstudio {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    fit = sub.add_parser("fit", help="discover a formula from a CSV (headless)")
    fit.add_argument("data", help="CSV file with a header row")
    fit.add_argument("--target", help="target column (default: the last numeric column)")
    fit.add_argument("--inputs", type=_name_list, help="input columns, comma-separated")
    fit.add_argument("--out", help="write the result as JSON to this file")
    fit.add_argument("--save", help="save the session as a .kstudio project")
    fit.add_argument("--width", type=_width, help=(
        "architecture, e.g. 2,5,1; a level with product (multiplication) nodes is "
        "SUMS+PRODUCTS: 2,0+1,1 is one hidden product node, 3,2+1,1 two sums and one "
        "product (also accepted: \"2,[0,1],1\")"))
    fit.add_argument("--grid", type=int, default=5, help="spline intervals (default 5)")
    fit.add_argument("--k", type=int, default=3, help="spline order (default 3)")
    fit.add_argument("--steps", type=int, help="steps of the sparse training stage")
    fit.add_argument("--lamb", type=float, help="sparsity strength of the first stage")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    fit.add_argument("--lib", type=_name_list, help="symbolic functions, e.g. sin,exp,x^2")
    fit.add_argument("--drop-missing", action="store_true",
                     help="drop rows with missing values instead of refusing the file")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    fit.add_argument("--log", action="store_true", help=(
        "print Discover's stage log on stderr as it runs (what the app's Discover Log "
        "shows: each stage, and every decision with its reason), each line after the "
        "seconds since Discover started"))

    from kanstudio.sweep.command import add_sweep_parser

    # the same types as fit's --width and --inputs/--lib: both commands read the same text
    add_sweep_parser(sub, width_type=_width, names_type=_name_list)

    export = sub.add_parser("export", help="print the formula of a saved project")
    export.add_argument("project", help=".kstudio project file")
    export.add_argument("--format", default="latex",
                        choices=["latex", "python", "sympy", "json", "c", "mathml"])
    export.add_argument("--constants", action="store_true", help=(
        "with --format latex: add a table of the formula's free constants with their "
        "standard errors"))
    return parser


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


#: Scores of the result JSON that may be null; ``null_reasons`` says why each null one is.
SCORE_FIELDS = ("train_rmse", "test_rmse", "network_test_r2", "formula_test_rmse",
                "formula_test_r2")


def _null_reasons(payload: dict[str, Any], reasons: dict[str, str]) -> dict[str, str]:
    return {name: reasons.get(name, "not a finite number") for name in SCORE_FIELDS
            if payload.get(name) is None}


def _number(value: float | None, reason: str | None) -> str:
    """A score for the text output: 6 decimals, or 'n/a' and why (never a crash)."""
    return f"{value:.6f}" if value is not None else f"n/a ({reason or 'not a finite number'})"


def summary_line(payload: dict[str, Any], seconds: float) -> str:
    """What ``kanstudio fit`` prints on stderr after the formula: the formula's and the
    network's R² on the held-out rows, and "approximate" said plainly where it is."""
    why = payload.get("null_reasons", {})
    lines = [f"formula R² on held-out rows: "
             f"{_number(payload['formula_test_r2'], why.get('formula_test_r2'))}   "
             f"network R²: {_number(payload.get('network_test_r2'), 'not finite')}   "
             f"width {payload['width']}   {seconds:.1f} s"]
    status = payload.get("formula_status")
    if status == "approximate":
        lines.append(f"approximate formula: {payload.get('formula_status_reason', '')}")
    elif status == "verified":
        lines.append(f"verified: {payload.get('formula_status_reason', '')}")
    if payload.get("defined_on_margin") is False:
        lines.append(f"warning: {payload.get('margin_reason')}")
    budget = payload.get("budget") or {}
    if budget.get("wall_clock_cap_fired"):
        lines.append(f"warning: the wall-clock safety cap ({budget['wall_clock_cap_s']:g} s) "
                     f"ended discovery after {budget['training_steps']} of "
                     f"{budget['step_budget']} training steps; the same seed may give another "
                     "formula on another machine")
    return "\n".join(lines)


def _result_json(session: Any, result: Any, seconds: float) -> dict[str, Any]:
    from kanstudio.core import resolve_device
    from kanstudio.core.fused_cpu import fused_available
    from kanstudio.symbolic.export import to_latex, to_sympy

    metrics = session.metrics()
    expr = result.expressions[0]
    device = str(resolve_device(session.settings.device)).split(":")[0]
    payload = {
        "formula": to_sympy(expr),
        "latex": to_latex(expr, symbol_names=result.latex_names),
        "inputs": list(result.columns),  # the CSV's column names
        # the formula's symbol for each input, in that order: the column's name as written
        # (beta, E, gamma) unless no parser reads it (lambda -> lambda_, 'mass (kg)' ->
        # mass_kg). Read the text with sympify(formula, locals={s: Symbol(s) for s in
        # symbols}); without locals, sympy would read E as Euler's number, beta as a function
        "symbols": list(result.input_names),
        "target": result.target_names[0],
        "width": session.model.width_,
        "train_rmse": _finite(metrics["train_rmse"]),
        "test_rmse": _finite(metrics["test_rmse"]),
        "network_test_r2": _finite(result.network_test_r2),
        "formula_test_rmse": _finite(result.formula_test_rmse),
        "formula_test_r2": _finite(result.formula_test_r2),
        # "verified": the formula reproduces the network on the held-out rows within
        # session.VERIFY_TOLERANCE of its spread; else "approximate" (reason says by how much)
        "formula_status": result.status,
        "formula_status_reason": result.status_reason,
        "formula_network_difference": _finite(result.network_difference),
        # inputs the network uses that the formula lacks (see formula_status_reason)
        "missing_inputs": list(result.missing_inputs),
        # the accuracy-complexity front discover() found, simplest first; the chosen
        # formula is marked and choice_reason says why (empty for `export`)
        "pareto": result.pareto,
        "choice_reason": result.choice_reason or None,
        # finite on 25 % of each input's range beyond the data (session.MARGIN)?
        "defined_on_margin": result.defined_on_margin,
        "margin_reason": result.margin_reason or None,
        "seconds": round(seconds, 3),
        # work done against discover()'s budgets; wall_clock_cap_fired: the safety cap
        # ended it, so the same seed may give another formula on another machine
        "budget": dict(result.budget) or None,
        "formulas": [to_sympy(e) for e in result.expressions],
        "formula_exact": to_sympy(result.exact[0]),
        # the formula's free constants (its floats, reading order) at full precision, as
        # shown (4 significant digits) and with their standard errors on the training rows
        # (null with a reason when not determined)
        "constants": [{k: (_finite(v) if k in ("value", "stderr") else v)
                       for k, v in c.items()} for c in result.constants],
        "device": device,
        # which spline implementation trained it: the fused numba kernel or torch ops
        "cpu_kernel": ("fused" if fused_available() else "torch") if device == "cpu" else None,
    }
    reasons = {**result.reasons}
    for name in ("train_rmse", "test_rmse"):
        reasons.setdefault(name, "the network's predictions overflow on these rows")
    payload["null_reasons"] = _null_reasons(payload, reasons)
    return payload


def _progress(quiet: bool):
    """A tqdm bar on stderr when it is a terminal; nothing otherwise."""
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=6, unit="stage", file=sys.stderr, leave=False)


def cmd_fit(args: argparse.Namespace) -> int:
    """``kanstudio fit``: check every option, run the pipeline, write and print the result."""
    _check_output_folders(args)
    dataset = _load_fit_dataset(args)
    session, pipeline = _fit_session(args, dataset)
    start = time.perf_counter()
    result = _run_pipeline(session, pipeline, quiet=args.quiet or args.log, log=args.log)
    seconds = time.perf_counter() - start
    payload = _result_json(session, result, seconds)
    _write_outputs(args, session, payload)
    print(f"{payload['target']} = {payload['formula']}")
    print(summary_line(payload, seconds), file=sys.stderr)
    return EXIT_OK


def _check_output_folders(args: argparse.Namespace) -> None:
    """Refuse --out/--save into a folder that is missing or read-only, before any work."""
    for option, target in (("--out", args.out), ("--save", args.save)):
        if target is not None:
            folder = Path(target).resolve().parent
            if not folder.is_dir():
                raise BadInputError(f"{option} {target}: folder {folder} does not exist")
            if not os.access(folder, os.W_OK):
                raise BadInputError(f"{option} {target}: folder {folder} is not writable")


def _load_fit_dataset(args: argparse.Namespace) -> Any:
    from kanstudio.data import DataError, load_dataset

    try:
        dataset = load_dataset(args.data, target=args.target, inputs=args.inputs,
                               drop_missing=args.drop_missing)
    except DataError as exc:
        raise BadInputError(str(exc).splitlines()[0]) from exc
    if dataset.n_outputs != 1:
        raise BadInputError("kanstudio fit discovers one target at a time; pass --target")
    return dataset


def _check_model_options(args: argparse.Namespace, n_inputs: int) -> None:
    """--lib, --width, --grid, --k and --device, each refused with its own reason."""
    from kanstudio.symbolic.library import resolve_names

    if args.lib:
        try:
            resolve_names(args.lib)
        except (KeyError, ValueError) as exc:
            raise BadInputError(str(exc).splitlines()[0]) from exc
    from kanstudio.core.width import parse_width

    nodes = parse_width(args.width).nodes if args.width else None
    if nodes and (nodes[0] != n_inputs or nodes[-1] != 1):
        raise BadInputError(f"--width {args.width} must start with {n_inputs} (inputs) and "
                       "end with 1 (target)")
    if args.grid < 1 or not 0 <= args.k <= 10:
        raise BadInputError("--grid must be >= 1 and --k between 0 and 10")
    try:
        from kanstudio.core import resolve_device

        resolve_device(args.device)
    except ValueError as exc:
        raise BadInputError(str(exc)) from exc


def _pipeline_settings(args: argparse.Namespace) -> Any:
    """The pipeline's settings with --steps and --lamb applied (each checked)."""
    from kanstudio.session.pipeline import PipelineSettings

    pipeline = PipelineSettings()
    if args.steps is not None:
        if args.steps < 1:
            raise BadInputError("--steps must be at least 1")
        pipeline.sparse_steps = args.steps
    if args.lamb is not None:
        if not math.isfinite(args.lamb) or args.lamb < 0:
            raise BadInputError("--lamb must be a number >= 0")
        pipeline.lamb = args.lamb
    return pipeline


def _fit_session(args: argparse.Namespace, dataset: Any) -> tuple[Any, Any]:
    """(session, pipeline settings) for ``fit``; BadInputError for any option refused."""
    from kanstudio.session import Session, SessionError, SessionSettings

    _check_model_options(args, dataset.n_inputs)
    settings = SessionSettings(width=args.width, grid=args.grid, k=args.k, seed=args.seed,
                               device=args.device, functions=args.lib)
    pipeline = _pipeline_settings(args)
    try:
        session = Session(dataset, settings)
    except SessionError as exc:
        raise BadInputError(str(exc)) from exc
    return session, pipeline


def _run_pipeline(session: Any, pipeline: Any, quiet: bool, log: bool = False) -> Any:
    """Run Discover to its end (a progress bar per stage unless quiet; with ``log``, each
    stage's start and every note and summary on stderr, after the seconds since Discover
    started: which stage the time goes to); its formula."""
    from kanstudio.session import SessionError
    from kanstudio.session.pipeline import discover

    bar = _progress(quiet)
    result = None
    started = time.perf_counter()
    try:
        for event in discover(session, pipeline):
            if bar is not None and event.kind == "start":
                bar.set_description(event.stage)
                bar.update(1 if event.stage_index else 0)
            if bar is not None and event.kind == "progress":  # a long search
                bar.set_postfix_str(event.message)
            if log and event.kind not in ("step", "progress") and event.message:
                print(f"{time.perf_counter() - started:7.1f} s [{event.stage}] "
                      f"{event.message}", file=sys.stderr, flush=True)
            if event.kind == "done" and "formula" in event.info:
                result = event.info["formula"]
    except SessionError as exc:
        raise BadInputError(str(exc)) from exc
    finally:
        if bar is not None:
            bar.close()
    assert result is not None
    return result


def _write_outputs(args: argparse.Namespace, session: Any, payload: dict[str, Any]) -> None:
    """--out (the JSON) and --save (the project); a write that fails still prints the
    formula, so the result is not lost."""
    try:
        if args.out:
            from kanstudio.model.archive import write_text_atomic

            write_text_atomic(args.out, json.dumps(payload, indent=2) + "\n")
        if args.save:
            from kanstudio.session.project_file import save_project

            save_project(session, args.save)
    except OSError as exc:
        print(f"{payload['target']} = {payload['formula']}")  # the result is not lost
        raise BadInputError(f"cannot write the result: {exc}") from exc


def cmd_export(args: argparse.Namespace) -> int:
    from kanstudio.session.project_file import ProjectError, load_project
    from kanstudio.symbolic.export import FORMATS, constants_table, to_python
    from kanstudio.symbolic.formula import NumericEdgeError

    try:
        session = load_project(args.project, device="cpu")
    except ProjectError as exc:
        raise BadInputError(f"cannot open {args.project}: {exc}") from exc
    if session.model is None:
        raise BadInputError(f"{args.project} has no trained model yet")
    try:
        result = session.formula()
    except NumericEdgeError as exc:
        raise BadInputError(
            f"{len(exc.edges)} edge(s) of this project are not symbolic yet, so it has no "
            "formula: lock them in KAN Studio (Auto-symbolic) or rerun 'kanstudio fit'"
        ) from exc
    expr = result.expressions[0]
    target = result.target_names[0]
    if args.format != "json" and result.status != "verified":
        print(f"kanstudio: note: approximate formula: {result.status_reason}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(_result_json(session, result, 0.0), indent=2))
    elif args.format == "python":
        print(to_python(expr, result.input_names, target), end="")
    elif args.format == "latex":
        print(FORMATS["latex"](expr, target, result.latex_names))
        if args.constants and result.constants:
            print("\n" + constants_table(result.constants))
        elif args.constants:
            print("kanstudio: note: the formula has no free constants", file=sys.stderr)
    else:
        print(FORMATS[args.format](expr))
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    from kanstudio.sweep.command import SweepInputError, run_sweep_command

    try:
        return run_sweep_command(args)
    except SweepInputError as exc:
        raise BadInputError(str(exc)) from exc


GUI_SUFFIXES = (".csv", ".tsv", ".txt", ".kstudio")


def _wants_gui(argv: Sequence[str]) -> bool:
    """``kanstudio`` alone, or ``kanstudio DATA.csv`` / ``kanstudio PROJECT.kstudio``."""
    if not argv:
        return True
    return (len(argv) == 1 and not argv[0].startswith("-") and argv[0] not in ("fit", "export")
            and argv[0].lower().endswith(GUI_SUFFIXES))


def _launch_gui(paths: Sequence[str]) -> int:
    import os

    has_display = any(os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY",
                                                   "QT_QPA_PLATFORM"))
    if sys.platform.startswith("linux") and not has_display and paths:
        # No screen (a server, CI, ssh): do the headless equivalent of opening the file.
        command = "export" if paths[0].lower().endswith(".kstudio") else "fit"
        print(f"kanstudio: no display to open the window on; running 'kanstudio {command} "
              f"{paths[0]}' instead", file=sys.stderr)
        return main([command, paths[0]])
    if sys.platform.startswith("linux") and not has_display:
        build_parser().print_help(sys.stderr)
        print("kanstudio: error: no display to open the window on (DISPLAY is not set); "
              "use 'kanstudio fit' for headless work", file=sys.stderr)
        return EXIT_BAD_INPUT
    from kanstudio.gui import main as gui_main  # Qt is imported only for the window

    return gui_main(list(paths))


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    if _wants_gui(arguments):
        return _launch_gui(arguments)
    parser = build_parser()
    args = parser.parse_args(arguments)
    commands = {"fit": cmd_fit, "export": cmd_export, "sweep": cmd_sweep}
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        if args.command in ("fit", "sweep"):
            from kanstudio.core.allocator import keep_freed_memory

            keep_freed_memory()  # our own process: reuse freed tensor memory between steps
        return commands[args.command](args)
    except BadInputError as exc:
        print(f"kanstudio: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("kanstudio: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last line of defence: report, exit 1
        print(f"kanstudio: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
