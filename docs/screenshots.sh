#!/usr/bin/env bash
# The README's screenshots: hbal's and hspace's HTML reports on generated
# 20-node clusters, drawn by headless chromium.  Run from the top of the tree.
set -euo pipefail
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=.venv/bin/python
$py -m simulate.generator --nodes 20 --instances 200 --seed 9 -o "$tmp/busy.data"
$py -m simulate.generator --nodes 20 --instances 80 --seed 2 -o "$tmp/roomy.data"
.venv/bin/hbal -t "$tmp/busy.data" -C --html-report="$tmp/hbal.html" >/dev/null
.venv/bin/hspace -t "$tmp/roomy.data" --html-report="$tmp/hspace.html" >/dev/null
shot() {  # page, png, width,height, extra flags
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size="$3" --screenshot="$2" "${@:4}" "file://$1" 2>/dev/null
}
shot "$tmp/hbal.html" docs/hbal-report.png 1280,1900
shot "$tmp/hspace.html" docs/hspace-report.png 1280,1500
shot "$tmp/hbal.html" docs/hbal-report-phone-dark.png 390,1400 --force-dark-mode
