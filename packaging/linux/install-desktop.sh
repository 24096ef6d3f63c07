#!/bin/sh
# Install (or remove) KAN Studio's Linux desktop integration: the .desktop launcher, the
# AppStream metainfo, the .kstudio MIME type (double-click opens a project) and the icon
# in the hicolor theme. Per user by default; the app itself is installed separately
# (pip install ., or the PyInstaller bundle).
#
#   packaging/linux/install-desktop.sh                      # into ~/.local/share
#   packaging/linux/install-desktop.sh --exec "$PWD/dist/kanstudio/kanstudio"   # frozen app
#   sudo packaging/linux/install-desktop.sh --prefix /usr/local/share           # everyone
#   packaging/linux/install-desktop.sh --uninstall
set -eu

APP_ID=io.github.kanstudio.KANStudio
SIZES="16 22 24 32 48 64 128 256 512"
HERE=$(cd "$(dirname "$0")" && pwd)
RES=$(cd "$HERE/../../resources" && pwd)
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
EXEC=kanstudio
UNINSTALL=0

usage() { sed -n '2,11s/^# \{0,1\}//p' "$0"; }
while [ $# -gt 0 ]; do
    case $1 in
        --prefix) DATA=$2; shift 2 ;;
        --prefix=*) DATA=${1#*=}; shift ;;
        --exec) EXEC=$2; shift 2 ;;
        --exec=*) EXEC=${1#*=}; shift ;;
        --uninstall) UNINSTALL=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install-desktop.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

DESKTOP=$DATA/applications/$APP_ID.desktop
METAINFO=$DATA/metainfo/$APP_ID.metainfo.xml
MIME=$DATA/mime/packages/$APP_ID.xml
SVG=$DATA/icons/hicolor/scalable/apps/$APP_ID.svg

refresh() {
    # Rebuild the caches desktops read; each tool is optional.
    if command -v update-mime-database >/dev/null 2>&1; then
        update-mime-database "$DATA/mime" || true
    fi
    if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database -q "$DATA/applications" || true
    fi
    if command -v gtk-update-icon-cache >/dev/null 2>&1; then
        gtk-update-icon-cache -q -t -f "$DATA/icons/hicolor" 2>/dev/null || true
    fi
}

if [ "$UNINSTALL" = 1 ]; then
    rm -f "$DESKTOP" "$METAINFO" "$MIME" "$SVG"
    for size in $SIZES; do
        rm -f "$DATA/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
    done
    mkdir -p "$DATA/mime/packages" "$DATA/applications"
    refresh
    echo "removed KAN Studio's desktop integration from $DATA"
    exit 0
fi

case $EXEC in
    *[[:space:]]*) EXEC_LINE="\"$EXEC\"" ;;  # a path with spaces is quoted in Exec=
    *) EXEC_LINE=$EXEC ;;
esac

mkdir -p "$DATA/applications" "$DATA/metainfo" "$DATA/mime/packages" "$(dirname "$SVG")"
sed -e "s|^Exec=kanstudio |Exec=$EXEC_LINE |" -e "s|^TryExec=kanstudio\$|TryExec=$EXEC|" \
    "$RES/linux/$APP_ID.desktop" > "$DESKTOP"
chmod 644 "$DESKTOP"
cp "$RES/linux/$APP_ID.metainfo.xml" "$METAINFO"
cp "$RES/linux/$APP_ID.mime.xml" "$MIME"
cp "$RES/icons/$APP_ID.svg" "$SVG"
for size in $SIZES; do
    mkdir -p "$DATA/icons/hicolor/${size}x${size}/apps"
    cp "$RES/icons/hicolor/${size}x${size}/apps/$APP_ID.png" \
        "$DATA/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
done
refresh
echo "installed KAN Studio's desktop integration into $DATA (Exec=$EXEC)"
