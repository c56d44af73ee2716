#!/usr/bin/env bash
# Copy the front-end libraries pinned in package.json / package-lock.json into static/vendor/,
# where they are committed and WhiteNoise serves them: running the product needs no npm and no
# CDN. Run it after changing a version in package.json (then `npm install --package-lock-only`
# to update the lock file) and commit what it copies.
#
#   static/vendor/echarts/echarts.min.js   Apache ECharts, the minified full build
#   static/vendor/echarts/LICENSE          its licence (Apache-2.0), and NOTICE
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
