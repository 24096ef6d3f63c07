"""The Feynman scorer lives in bench/ (a folder of scripts, not a package): make it importable."""

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
