#!/usr/bin/env bash
# Make sure Debian's headless Chromium is there for the browser tests.
# Playwright cannot download its own browsers on this network; the tests drive
# /usr/bin/chromium instead. Installs it with apt-get when we are root;
# otherwise says how and lets the browser tests skip (or fail, under CI=true).
set -euo pipefail
CHROMIUM="${CHROMIUM_BIN:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "installing chromium for the browser tests (apt-get)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq chromium chromium-driver >/dev/null
  exit 0
fi
echo "note: $CHROMIUM is missing; browser tests will skip. Install it with: sudo apt-get install chromium" >&2
exit 0
