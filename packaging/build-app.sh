#!/bin/sh
# Build the one-folder desktop app with PyInstaller: dist/kanstudio/kanstudio.
#
#   packaging/build-app.sh            # uses `python` (or $PYTHON)
#
# Needs: the project installed in that Python (pip install .), PyInstaller
# (pip install pyinstaller), and the CPU build of torch
# (pip install torch --index-url https://download.pytorch.org/whl/cpu).
set -eu
PYTHON=${PYTHON:-python}
cd "$(dirname "$0")/.."
ROOT=$(pwd)

"$PYTHON" - <<'PY'
import sys
import torch
if torch.version.cuda or getattr(torch.version, "hip", None):
    sys.exit(f"build-app.sh: torch {torch.__version__} is a GPU build; this spec bundles the "
             "CPU build (pip install torch --index-url https://download.pytorch.org/whl/cpu)")
PY

"$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath dist --workpath build/pyinstaller packaging/kanstudio.spec

# A quick check that the bundle runs on its own: the headless pipeline on a bundled sample
# (imports torch, sympy and the sample data from inside dist/, not from this tree).
SAMPLE=dist/kanstudio/_internal/kanstudio/sample_datasets/toy_sin.csv
(cd "${TMPDIR:-/tmp}" && env -u DISPLAY -u WAYLAND_DISPLAY "$ROOT/dist/kanstudio/kanstudio" \
    fit "$ROOT/$SAMPLE" --steps 5 --quiet)
echo "built: $(du -sh dist/kanstudio | cut -f1)  dist/kanstudio/kanstudio"
echo "GUI check under Xvfb: packaging/smoke-test-app.sh dist/kanstudio/kanstudio"
