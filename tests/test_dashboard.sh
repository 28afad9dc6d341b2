#!/usr/bin/env bash
# The dashboard (web/, compiled into the binary and served at GET /) as a person sees it:
# `techledger serve` on a small demo ledger, loaded by headless Chromium, which runs app.js
# against the real API on a loopback port. We assert on the rendered DOM (what is on the
# screen), save a screenshot, then check that a failing view is shown as an error, not as
# a blank or stale panel.
#
# usage: test_dashboard.sh TECHLEDGER_BIN OUT_DIR     (the screenshot goes to OUT_DIR/dashboard.png)
# exit: 0 pass, 1 fail, 77 skipped (no chromium: scripts/deps.sh chromium installs it)
set -euo pipefail

bin=$1
out_dir=$2
if ! command -v chromium >/dev/null 2>&1; then
  echo "SKIP: chromium is not installed (run scripts/deps.sh chromium)"
  exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tl-dashboard-XXXXXX")
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
cleanup() {
  stop_server
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Starts `techledger serve` on a free loopback port with extra flags; sets $url.
start_server() {
  local log="$tmp/serve.$RANDOM.log"
  "$bin" serve "$tmp/ledger" --listen 127.0.0.1:0 --access-log off "$@" >"$log" 2>&1 &
  server_pid=$!
  url=""
  for _ in $(seq 1 600); do
    url=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" | head -n 1 || true)
    [ -n "$url" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; fail "techledger serve exited"; }
    sleep 0.1
  done
  cat "$log" >&2
  fail "techledger serve did not say where it listens"
}

chrome() {
  local profile
  profile=$(mktemp -d "$tmp/chrome-XXXXXX")
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --virtual-time-budget=5000 "$@" 2>>"$tmp/chromium.log"
}

# What a person sees must be in the rendered DOM.
expect() {
  local what=$1 pattern=$2 dom=$3
  if ! grep -q -- "$pattern" "$dom"; then
    echo "--- rendered DOM (first 4000 bytes) ---" >&2
    head -c 4000 "$dom" >&2
    echo >&2
    fail "the dashboard does not show $what (looked for: $pattern)"
  fi
}

# 1. A demo ledger, and its views brought up to date before serving.
"$bin" demo "$tmp/ledger" --scale 0.001 --seed 11 --quiet >"$tmp/demo.log" 2>&1 ||
  { cat "$tmp/demo.log" >&2; fail "techledger demo failed"; }
"$bin" report "$tmp/ledger" turnover --by year >"$tmp/report.txt" 2>&1 ||
  { cat "$tmp/report.txt" >&2; fail "techledger report failed"; }
origin=$(head -n 1 "$tmp/ledger/ledger.vkey" | cut -d+ -f1)
[ "$origin" = "demo.techledger.example/national" ] || fail "unexpected origin '$origin'"

# 2. The dashboard, rendered.
start_server
dom="$tmp/dom.html"
chrome --dump-dom "$url/" >"$dom" || fail "chromium could not render $url/"
expect "the year the 2-trillion target was crossed" 'id="crossed-year">2019<' "$dom"
expect "the 2019 turnover (22,398.40亿元)" '22,398.40' "$dom"
expect "the latest turnover (68,354.00亿元)" 'id="latest-turnover">68,354.00 亿元<' "$dom"
expect "the chart" '<svg[^>]*class="bars"' "$dom"
expect "the target line" 'class="target"' "$dom"
expect "Beijing among the top seller provinces" '北京 Beijing' "$dom"
expect "the guidance fund" 'guidance-fund' "$dom"
expect "the loans against the cap" 'bank-' "$dom"
expect "the checkpoint origin, verbatim" "<pre id=\"checkpoint\">$origin" "$dom"
expect "Chinese and English labels" '目标达成年份' "$dom"
expect "Chinese and English labels" 'Year the target was first reached' "$dom"
if grep -q 'class="status error"' "$dom"; then
  grep -o 'class="status error"[^<]*' "$dom" >&2
  fail "a panel shows an error on a healthy server"
fi
# The checkpoint is the server's, byte for byte.
first_line=$(sed -n 's/.*<pre id="checkpoint">\([^<]*\).*/\1/p' "$dom" | head -n 1)
[ "$first_line" = "$origin" ] || fail "checkpoint shown as '$first_line'"

# A vintage: #as_of=2019-12-31 shows the ledger as recorded that day (the simulated clock puts
# the demo's records on their dates): 2019 has crossed the target, 2024 does not exist yet.
dom_asof="$tmp/dom-asof.html"
chrome --dump-dom "$url/#as_of=2019-12-31" >"$dom_asof" || fail "chromium could not render the vintage"
expect "the vintage date" 'As recorded on 2019-12-31' "$dom_asof"
expect "the crossing year in the 2019 vintage" 'id="crossed-year">2019<' "$dom_asof"
expect "2019 as the latest year of the vintage" 'id="latest-year">2019 年' "$dom_asof"
if grep -q 'id="latest-turnover">68,354.00' "$dom_asof"; then
  fail "the 2019-12-31 vintage shows 2024's turnover as the latest"
fi

mkdir -p "$out_dir"
rm -f "$out_dir/dashboard.png"
chrome --screenshot="$out_dir/dashboard.png" --window-size=1280,900 "$url/" >/dev/null ||
  fail "chromium could not take a screenshot"
[ -s "$out_dir/dashboard.png" ] || fail "no screenshot at $out_dir/dashboard.png"
[ "$(head -c 8 "$out_dir/dashboard.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] ||
  fail "$out_dir/dashboard.png is not a PNG"
stop_server

# 3. Views unavailable: the panels say so, visibly; the checkpoint still shows.
start_server --views off
dom="$tmp/dom-noviews.html"
chrome --dump-dom "$url/" >"$dom" || fail "chromium could not render $url/ without views"
expect "an error for the turnover view" 'id="turnover-status" role="status">加载失败 Could not load: HTTP' "$dom"
expect "an error for the funds view" 'id="funds-status" role="status">加载失败 Could not load: HTTP' "$dom"
expect "the checkpoint without views" "<pre id=\"checkpoint\">$origin" "$dom"
stop_server

echo "PASS: dashboard shows the 2019 crossing, the turnover, the checkpoint; screenshot in $out_dir/dashboard.png"
