"""Write the sample datasets, catalog.json and README.md: `python sample_datasets/generate.py`.

Every file is deterministic (one fixed seed per dataset) and holds values rounded to 8
significant digits. Targets are computed from the rounded inputs, so evaluating the catalog
formula on the CSV's inputs reproduces its target column to the last printed digit (except
for the noisy dataset). Each formula uses only functions a KAN's symbolic library offers
(x, x^2, ..., 1/x, sqrt, exp, log, sin, ...), over ranges away from singularities.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

N_ROWS = 1000
SIGNIFICANT_DIGITS = 8
KAN_PAPER = "KAN paper (Liu et al. 2024, arXiv:2404.19756), toy example"
FEYNMAN = "Feynman Lectures, equation {} (AI Feynman benchmark, Udrescu & Tegmark 2020)"

Columns = dict[str, np.ndarray]


@dataclass(frozen=True)
class SampleSpec:
    """One dataset: its columns' ranges, the target's name and how it is computed."""

    file: str
    target: str
    ranges: dict[str, tuple[float, float]]
    formula: str  # sympy syntax over the column names
    compute: Callable[[Columns], np.ndarray]  # same law in numpy, written independently
    source: str
    seed: int
    noise: float = 0.0  # Gaussian noise std as a fraction of std(target)
    notes: list[str] = field(default_factory=list)


SPECS: tuple[SampleSpec, ...] = (
    SampleSpec(
        "toy_xy.csv", "f", {"x": (-1, 1), "y": (-1, 1)},
        "x*y", lambda c: c["x"] * c["y"], KAN_PAPER, seed=101,
    ),
    SampleSpec(
        "toy_exp_sin.csv", "f", {"x": (-1, 1), "y": (-1, 1)},
        "exp(sin(pi*x) + y**2)", lambda c: np.exp(np.sin(np.pi * c["x"]) + c["y"] ** 2),
        KAN_PAPER, seed=102,
    ),
    SampleSpec(
        "toy_sin.csv", "f", {"x": (-1, 1)},
        "sin(pi*x)", lambda c: np.sin(np.pi * c["x"]), KAN_PAPER, seed=103,
    ),
    SampleSpec(
        "toy_4d.csv", "f", {"x1": (-1, 1), "x2": (-1, 1), "x3": (-1, 1), "x4": (-1, 1)},
        "exp((sin(pi*(x1**2 + x2**2)) + sin(pi*(x3**2 + x4**2)))/2)",
        lambda c: np.exp(
            (np.sin(np.pi * (c["x1"] ** 2 + c["x2"] ** 2))
             + np.sin(np.pi * (c["x3"] ** 2 + c["x4"] ** 2))) / 2
        ),
        KAN_PAPER + " (the harder 4-D one)", seed=104,
    ),
    SampleSpec(
        "feynman_I_6_2a.csv", "f", {"theta": (-3, 3)},
        "exp(-theta**2/2)/sqrt(2*pi)",
        lambda c: np.exp(-c["theta"] ** 2 / 2) / np.sqrt(2 * np.pi),
        FEYNMAN.format("I.6.2a"), seed=105, notes=["standard normal density"],
    ),
    SampleSpec(
        "feynman_I_12_1.csv", "F", {"mu": (1, 5), "Nn": (1, 5)},
        "mu*Nn", lambda c: c["mu"] * c["Nn"], FEYNMAN.format("I.12.1"), seed=106,
        notes=["friction force F = mu * Nn"],
    ),
    SampleSpec(
        "feynman_I_25_13.csv", "V", {"charge": (1, 5), "cap": (1, 5)},
        "charge/cap", lambda c: c["charge"] / c["cap"], FEYNMAN.format("I.25.13"), seed=107,
        notes=["capacitor voltage V = q / C"],
    ),
    SampleSpec(
        "feynman_I_29_4.csv", "k", {"omega": (1, 10), "c": (1, 10)},
        "omega/c", lambda c: c["omega"] / c["c"], FEYNMAN.format("I.29.4"), seed=108,
        notes=["wave number k = omega / c"],
    ),
    SampleSpec(
        "feynman_II_3_24.csv", "flux", {"P": (1, 5), "r": (1, 5)},
        "P/(4*pi*r**2)", lambda c: c["P"] / (4 * np.pi * c["r"] ** 2),
        FEYNMAN.format("II.3.24"), seed=109, notes=["energy flux of a point source"],
    ),
    SampleSpec(
        "pendulum.csv", "T", {"length": (0.5, 2), "g_acc": (9, 10)},
        "2*pi*sqrt(length/g_acc)", lambda c: 2 * np.pi * np.sqrt(c["length"] / c["g_acc"]),
        "Small-angle pendulum period (textbook mechanics)", seed=110,
        notes=["period T of a pendulum of length L (m) under gravity g (m/s^2)"],
    ),
    SampleSpec(
        "noisy_quadratic.csv", "f", {"x": (-2, 2), "y": (-2, 2)},
        "x**2 + sin(y)", lambda c: c["x"] ** 2 + np.sin(c["y"]),
        "KAN Studio test case: noise robustness", seed=111, noise=0.02,
        notes=["2% Gaussian noise on f (std = 0.02 * std(f))"],
    ),
    SampleSpec(
        "irrelevant_column.csv", "f", {"a": (-1, 1), "b": (-1, 1), "c": (-1, 1)},
        "exp(a) + b**2", lambda c: np.exp(c["a"]) + c["b"] ** 2,
        "KAN Studio test case: pruning an unused input", seed=112,
        notes=["column c does not enter the formula; pruning should remove it"],
    ),
)


def round_significant(values: np.ndarray, digits: int = SIGNIFICANT_DIGITS) -> np.ndarray:
    """Round to `digits` significant digits exactly as the CSV prints them."""
    text = [f"{value:.{digits}g}" for value in values]
    return np.array([float(item) for item in text], dtype=np.float64)


def sample_columns(spec: SampleSpec) -> Columns:
    """Inputs drawn uniformly in their ranges, then the target (plus noise, if any)."""
    rng = np.random.default_rng(spec.seed)
    columns: Columns = {
        name: round_significant(rng.uniform(low, high, size=N_ROWS))
        for name, (low, high) in spec.ranges.items()
    }
    target = spec.compute(columns)
    if spec.noise > 0:
        target = target + rng.normal(0.0, spec.noise * float(np.std(target)), size=N_ROWS)
    columns[spec.target] = round_significant(target)
    return columns


def write_csv(path: Path, columns: Columns) -> None:
    names = list(columns)
    rows = zip(*(columns[name] for name in names), strict=True)
    lines = [",".join(names)]
    lines += [",".join(f"{value:.{SIGNIFICANT_DIGITS}g}" for value in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")


def catalog_entry(spec: SampleSpec) -> dict[str, object]:
    return {
        "file": spec.file,
        "target": spec.target,
        "inputs": list(spec.ranges),
        "formula": spec.formula,
        "ranges": {name: [float(low), float(high)] for name, (low, high) in spec.ranges.items()},
        "source": spec.source,
        "noise": spec.noise,
        "rows": N_ROWS,
        "notes": "; ".join(spec.notes),
    }


def readme_text(specs: tuple[SampleSpec, ...]) -> str:
    header = [
        "# Sample datasets",
        "",
        "Small CSVs with known formulas, for trying KAN Studio and for testing that it",
        "recovers them. Each has 1000 rows, values rounded to 8 significant digits, and its",
        "target as the last column, so the default roles (last numeric column = target)",
        "pick it. `catalog.json` lists the same information for programs.",
        "",
        "| file | target | formula | variable ranges | source |",
        "|---|---|---|---|---|",
    ]
    rows = []
    for spec in specs:
        ranges = ", ".join(
            f"{name} ∈ [{low:g}, {high:g}]" for name, (low, high) in spec.ranges.items()
        )
        rows.append(f"| `{spec.file}` | `{spec.target}` | `{spec.target} = {spec.formula}` "
                    f"| {ranges} | {spec.source} |")
    footer = [
        "",
        "Notes:",
        "",
        "- **Physical column names**: the Feynman files (`feynman_*.csv`) and `pendulum.csv` use",
        "  names from physics (`theta`, `mu`, `Nn`, `charge`, `cap`, `omega`, `c`, `P`, `r`,",
        "  `length`, `g_acc`) chosen so that none clashes with a sympy name (`E`, `I`, `N`,",
        "  `S`, `Q`, `gamma`, ...); the formulas read as the laws do.",
        "- `noisy_quadratic.csv` has Gaussian noise of standard deviation 0.02 · std(f) on f,",
        "  so no formula reproduces it exactly.",
        "- `irrelevant_column.csv` has an input `c` that the formula does not use: a good",
        "  KAN prunes it.",
        "- `toy_4d.csv` is the KAN paper's 4-D example; it needs a deeper network",
        "  (e.g. width [4, 4, 2, 1]) and is the hardest here.",
        "- Inputs are drawn uniformly in their ranges; ranges avoid singularities",
        "  (positive for 1/x, sqrt, log).",
        "",
        "Regenerate (byte-identical) with `python sample_datasets/generate.py`.",
        "",
    ]
    return "\n".join(header + rows + footer)


def generate(out_dir: Path) -> list[Path]:
    """Write every CSV, catalog.json and README.md into `out_dir`; returns the CSV paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for spec in SPECS:
        path = out_dir / spec.file
        write_csv(path, sample_columns(spec))
        written.append(path)
    catalog = [catalog_entry(spec) for spec in SPECS]
    (out_dir / "catalog.json").write_text(
        json.dumps(catalog, indent=2, ensure_ascii=False) + "\n", encoding="utf-8", newline="\n"
    )
    (out_dir / "README.md").write_text(readme_text(SPECS), encoding="utf-8", newline="\n")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write KAN Studio's sample datasets.")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="folder to write into (default: this script's folder)")
    args = parser.parse_args(argv)
    generate(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
