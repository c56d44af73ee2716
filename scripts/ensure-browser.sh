#!/usr/bin/env bash
# Make sure the browser tests (tests/browser) can run: Debian's Chromium at /usr/bin/chromium, a
# CJK font (without one, Chinese renders as boxes in screenshots and PDFs), poppler-utils
# (pdftoppm, for turning PDFs into PNG pages in tests) and Pango (libpango-1.0-0,
# libpangoft2-1.0-0), which WeasyPrint needs to render the e-receipt PDFs the tests check.
#
#   all present    -> nothing to do, prints nothing
#   any missing    -> apt-get update && apt-get install chromium fonts-noto-cjk poppler-utils
#                     libpango-1.0-0 libpangoft2-1.0-0 (as root, or with sudo)
#
# Exits non-zero with a message saying why when they cannot be had. Playwright never downloads a
# browser here (`playwright install` cannot reach its CDN); the tests launch /usr/bin/chromium.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

SCRIPT_NAME=ensure-browser
ROOT_HINT="Install chromium fonts-noto-cjk poppler-utils libpango-1.0-0 libpangoft2-1.0-0 as root, then retry."
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

have_chromium() { [ -x "$CHROMIUM" ]; }
have_cjk_font() { command -v fc-list >/dev/null && [ -n "$(fc-list :lang=zh family 2>/dev/null)" ]; }
have_poppler() { command -v pdftoppm >/dev/null; }
have_pango() {
    local libs
    libs=$(ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null || true)
    grep -q 'libpango-1\.0\.so\.0' <<<"$libs" && grep -q 'libpangoft2-1\.0\.so\.0' <<<"$libs"
}

missing=()
have_chromium || missing+=(chromium)
have_cjk_font || missing+=(fonts-noto-cjk)
have_poppler || missing+=(poppler-utils)
have_pango || missing+=(libpango-1.0-0 libpangoft2-1.0-0)

[ "${#missing[@]}" -eq 0 ] && exit 0

command -v apt-get >/dev/null ||
    die "${missing[*]} missing and there is no apt-get here: install Chromium at $CHROMIUM, a CJK font, poppler-utils and Pango yourself."

# Checked here, not inside apt() below: its output goes to the log.
[ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null ||
    die "installing ${missing[*]} needs root; this user is not root and has no sudo. $ROOT_HINT"

say "installing ${missing[*]} with apt-get (chromium is about 350 MB installed; ~25 s seen here)"
started=$SECONDS
log=$(mktemp "${TMPDIR:-/tmp}/ensure-browser.XXXXXX")
trap 'rm -f "$log"' EXIT
# NEEDRESTART_SUSPEND: Debian's needrestart hook has nothing to restart here and only adds noise.
apt() { as_root env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get "$@" >>"$log" 2>&1; }
apt update -q || { cat "$log" >&2; die "apt-get update failed (output above)"; }
# Ask for all of them (fontconfig provides fc-list): apt-get skips what is already there.
PACKAGES=(chromium fonts-noto-cjk fontconfig poppler-utils libpango-1.0-0 libpangoft2-1.0-0)
apt install -y -q --no-install-recommends "${PACKAGES[@]}" ||
    { cat "$log" >&2; die "apt-get install ${PACKAGES[*]} failed (output above)"; }

have_chromium || die "apt-get finished but $CHROMIUM is still missing"
have_cjk_font || die "apt-get finished but 'fc-list :lang=zh' still lists no font"
have_poppler || die "apt-get finished but pdftoppm is still missing"
have_pango || die "apt-get finished but 'ldconfig -p' still lists no libpango-1.0 / libpangoft2-1.0"
say "installed in $((SECONDS - started))s: $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
