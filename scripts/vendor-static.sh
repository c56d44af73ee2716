#!/usr/bin/env bash
# Copy the front-end libraries pinned in package.json / package-lock.json into static/vendor/,
# where they are committed and WhiteNoise serves them: running the product needs no npm and no
# CDN. Run it after changing a version in package.json (then `npm install --package-lock-only`
# to update the lock file) and commit what it copies.
#
#   static/vendor/echarts/echarts.min.js   Apache ECharts, the minified full build
#   static/vendor/echarts/LICENSE          its licence (Apache-2.0), and NOTICE
#   static/vendor/htmx/htmx.min.js         htmx, for pages that update a part in place (the
#                                          refund quote); every such page works without it
#   static/vendor/htmx/LICENSE             its licence (0BSD)
#   tests/browser/vendor/axe.min.js        axe-core, the accessibility checker the browser tests
#                                          run inside the page (tests only, never served)
#   tests/browser/vendor/LICENSE           its licence (MPL-2.0)
#
# npm ci runs in a temporary directory, so no node_modules/ is left in the checkout.
set -euo pipefail

SCRIPT_NAME=vendor-static
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
command -v npm >/dev/null || die "npm is missing (only this script needs it, not the product)."

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp "$ROOT/package.json" "$ROOT/package-lock.json" "$WORK/"
(cd "$WORK" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

ECHARTS="$WORK/node_modules/echarts"
DEST="$ROOT/static/vendor/echarts"
mkdir -p "$DEST"
cp "$ECHARTS/dist/echarts.min.js" "$DEST/echarts.min.js"
cp "$ECHARTS/LICENSE" "$DEST/LICENSE"
[ -f "$ECHARTS/NOTICE" ] && cp "$ECHARTS/NOTICE" "$DEST/NOTICE"
version=$(node -p "require('$ECHARTS/package.json').version" 2>/dev/null || echo "?")
say "echarts $version -> static/vendor/echarts/"

HTMX="$WORK/node_modules/htmx.org"
DEST="$ROOT/static/vendor/htmx"
mkdir -p "$DEST"
cp "$HTMX/dist/htmx.min.js" "$DEST/htmx.min.js"
cp "$HTMX/LICENSE" "$DEST/LICENSE"
version=$(node -p "require('$HTMX/package.json').version" 2>/dev/null || echo "?")
say "htmx $version -> static/vendor/htmx/"

AXE="$WORK/node_modules/axe-core"
DEST="$ROOT/tests/browser/vendor"
mkdir -p "$DEST"
cp "$AXE/axe.min.js" "$DEST/axe.min.js"
cp "$AXE/LICENSE" "$DEST/LICENSE"
version=$(node -p "require('$AXE/package.json').version" 2>/dev/null || echo "?")
say "axe-core $version -> tests/browser/vendor/"
