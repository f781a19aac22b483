#!/usr/bin/env bash
# Headless Chromium and its WebDriver (Debian packages `chromium`, `chromium-driver`): the tests open the
# HTML lineage page (`unistore graph --html`) in a real browser through Selenium. Nothing is started here.
set -euo pipefail
. "$(dirname "$0")/_lib.sh"
if installing; then
  apt_install chromium chromium-driver fonts-dejavu-core
fi
for binary in /usr/bin/chromium /usr/bin/chromedriver; do
  [ -x "$binary" ] || { echo "   $binary missing: apt-get install chromium chromium-driver" >&2; exit 1; }
done
echo "   chromium and chromedriver installed (driven by the tests, headless)"
