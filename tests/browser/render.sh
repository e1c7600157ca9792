#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# render.sh: renders a local HTML file with a real headless Chromium, the way a
# user's browser would, for the export tests.
#
#   tests/browser/render.sh screenshot PAGE.html OUT.png [WIDTHxHEIGHT]
#   tests/browser/render.sh dom PAGE.html            # the rendered DOM on stdout
#
# Each run is bounded (timeout 60 s), uses a throw-away profile and no network
# features. Exit status: chromium's, 124 on timeout, 3 when chromium is absent.
set -u

CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}"
[ -n "$CHROMIUM" ] || { echo "render.sh: chromium not found" >&2; exit 3; }

mode="${1:-}" page="${2:-}"
[ -n "$mode" ] && [ -f "$page" ] || { echo "usage: render.sh screenshot|dom PAGE.html [OUT.png [WxH]]" >&2; exit 2; }
url="file://$(cd "$(dirname "$page")" && pwd)/$(basename "$page")"
profile="$(mktemp -d "${TMPDIR:-/tmp}/rstwatch-chromium.XXXXXX")"
trap 'rm -rf "$profile"' EXIT

flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
       --disable-background-networking --disable-component-update --disable-sync
       --disable-dev-shm-usage --user-data-dir="$profile")
case "$mode" in
screenshot)
    out="${3:?render.sh screenshot needs OUT.png}" size="${4:-1200x900}"
    timeout -k 5 60 "$CHROMIUM" "${flags[@]}" --hide-scrollbars --screenshot="$out" \
        --window-size="${size/x/,}" "$url" >/dev/null 2>"$profile.err"
    ;;
dom)
    timeout -k 5 60 "$CHROMIUM" "${flags[@]}" --dump-dom "$url" 2>"$profile.err"
    ;;
*) echo "render.sh: unknown mode '$mode'" >&2; exit 2 ;;
esac
rc=$?
# Chromium logs harmless D-Bus noise on stderr in containers; show it only on failure.
[ "$rc" = 0 ] || cat "$profile.err" >&2
rm -f "$profile.err"
exit "$rc"
