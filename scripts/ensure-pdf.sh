#!/usr/bin/env bash
# Make sure e-receipts (finance/receipts.py, WeasyPrint) can be rendered: Pango (libpango-1.0-0,
# libpangoft2-1.0-0), which WeasyPrint loads for its text layout, and a CJK font (without one,
# Chinese renders as boxes in the PDFs).
#
#   all present    -> nothing to do, prints nothing
#   any missing    -> apt-get update && apt-get install fonts-noto-cjk fontconfig libpango-1.0-0
#                     libpangoft2-1.0-0 (as root, or with sudo)
#
# Exits non-zero with a message saying why when they cannot be had. `make run` only warns then:
# the site works without them, the e-receipt downloads do not.
set -euo pipefail

PACKAGES=(fonts-noto-cjk fontconfig libpango-1.0-0 libpangoft2-1.0-0)

SCRIPT_NAME=ensure-pdf
ROOT_HINT="Install ${PACKAGES[*]} as root, then retry."
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

have_cjk_font() { command -v fc-list >/dev/null && [ -n "$(fc-list :lang=zh family 2>/dev/null)" ]; }
have_pango() {
    local libs
    libs=$(ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null || true)
    grep -q 'libpango-1\.0\.so\.0' <<<"$libs" && grep -q 'libpangoft2-1\.0\.so\.0' <<<"$libs"
}

missing=()
have_cjk_font || missing+=(fonts-noto-cjk)
have_pango || missing+=(libpango-1.0-0 libpangoft2-1.0-0)

[ "${#missing[@]}" -eq 0 ] && exit 0

command -v apt-get >/dev/null ||
    die "${missing[*]} missing and there is no apt-get here: install Pango and a CJK font (Noto Sans CJK SC or WenQuanYi Micro Hei) yourself."

# Checked here, not inside apt() below: its output goes to the log.
[ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null ||
    die "installing ${missing[*]} needs root; this user is not root and has no sudo. $ROOT_HINT"

say "installing ${missing[*]} with apt-get (fonts-noto-cjk is about 100 MB installed)"
started=$SECONDS
log=$(mktemp "${TMPDIR:-/tmp}/ensure-pdf.XXXXXX")
trap 'rm -f "$log"' EXIT
# NEEDRESTART_SUSPEND: Debian's needrestart hook has nothing to restart here and only adds noise.
apt() { as_root env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 apt-get "$@" >>"$log" 2>&1; }
apt update -q || { cat "$log" >&2; die "apt-get update failed (output above)"; }
# Ask for all of them (fontconfig provides fc-list): apt-get skips what is already there.
apt install -y -q --no-install-recommends "${PACKAGES[@]}" ||
    { cat "$log" >&2; die "apt-get install ${PACKAGES[*]} failed (output above)"; }

have_cjk_font || die "apt-get finished but 'fc-list :lang=zh' still lists no font"
have_pango || die "apt-get finished but 'ldconfig -p' still lists no libpango-1.0 / libpangoft2-1.0"
say "installed in $((SECONDS - started))s"
