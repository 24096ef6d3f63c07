#!/bin/sh
# Smoke test of the built app under a virtual X server (Xvfb + xdotool + ImageMagick):
# start it, open a sample through File ▸ Open Sample, run Model ▸ Discover (train, prune,
# refine, lock functions, fine-tune, formula), and take screenshots to look at.
#
#   packaging/smoke-test-app.sh [APP] [OUTDIR]    # default dist/kanstudio/kanstudio, /tmp/kanstudio-smoke
#
# Prints the time until the window is mapped. Screenshots: OUTDIR/1-started.png,
# 2-sample-menu.png, 3-sample-open.png, 4-discovered.png, 5-formula.png, 6-about.png.
set -eu
APP=${1:-dist/kanstudio/kanstudio}
OUT=${2:-/tmp/kanstudio-smoke}
WAIT=${DISCOVER_SECONDS:-90}
mkdir -p "$OUT"
export DISPLAY=${SMOKE_DISPLAY:-:97}
Xvfb "$DISPLAY" -screen 0 1600x1000x24 >/dev/null 2>&1 &
XVFB=$!
export KANSTUDIO_SETTINGS_DIR="$OUT/settings"   # a fresh settings folder, no recovery prompt
cleanup() { [ -n "${APPPID:-}" ] && kill "$APPPID" 2>/dev/null; kill "$XVFB" 2>/dev/null; }
trap cleanup EXIT
sleep 1

start=$(date +%s%N)
"$APP" >"$OUT/app.log" 2>&1 &
APPPID=$!
WID=$(xdotool search --sync --onlyvisible --name "KAN Studio" | head -1)
ready=$(date +%s%N)
echo "window mapped after $(( (ready - start) / 1000000 )) ms"
sleep 3
import -window root "$OUT/1-started.png"

xdotool windowactivate --sync "$WID" 2>/dev/null || xdotool windowfocus "$WID"
xdotool key --delay 300 alt+f s
sleep 1
import -window root "$OUT/2-sample-menu.png"
xdotool key --delay 300 Down Down Return        # the third sample: toy_sin
sleep 4
import -window root "$OUT/3-sample-open.png"

xdotool key ctrl+d                               # Model ▸ Discover
sleep "$WAIT"
import -window root "$OUT/4-discovered.png"
# the Formula tab next to the Edge Inspector (fresh settings: the default layout, no
# window manager, so the window sits at the top left at its default size)
xdotool mousemove --sync ${FORMULA_TAB_X:-693} ${FORMULA_TAB_Y:-903} click 1
sleep 2
import -window root "$OUT/5-formula.png"
xdotool key --delay 300 alt+h Return             # Help ▸ About KAN Studio
sleep 2
import -window root "$OUT/6-about.png"
xdotool key Escape
if command -v xprop >/dev/null 2>&1; then
    echo "window icon (_NET_WM_ICON): $(xprop -id "$WID" _NET_WM_ICON | head -c 60)"
fi
echo "screenshots in $OUT; app log: $OUT/app.log"
