"""The ``kanstudio`` command: the app, or headless discovery (``kanstudio fit``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kanstudio import __version__

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kanstudio",
        description="KAN Studio: discover formulas from data with Kolmogorov-Arnold Networks.",
    )
    parser.add_argument("--version", action="version", version=f"kanstudio {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help(sys.stderr)
    return EXIT_OK
