#!/usr/bin/env bash
# Makes sure Debian's Chromium is there for the report's browser tests
# (`make test` runs this): installs the `chromium` package when it is
# missing and this user may (root, or sudo without a password), else says
# how. Set S3LOGS_CHROMIUM to use another Chromium binary.
set -euo pipefail
browser="${S3LOGS_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$browser" ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "the report's browser tests need Chromium: sudo apt-get install chromium (or set S3LOGS_CHROMIUM)" >&2
  exit 1
fi
echo "installing Debian's chromium for the report's browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get install -y -qq chromium >/dev/null 2>&1 \
  || { "${as_root[@]}" apt-get update -qq >/dev/null && "${as_root[@]}" apt-get install -y -qq chromium >/dev/null; }
test -x "$browser"
