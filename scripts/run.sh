#!/usr/bin/env bash
# `make run`: the demonstration ledger, its turnover against the 2-trillion target, and the
# dashboard.
#
# usage: scripts/run.sh TECHLEDGER DATA_DIR LISTEN
#   Creates a demonstration ledger in DATA_DIR unless one is there (techledger demo; extra
#   arguments for it in $DEMO_ARGS, e.g. DEMO_ARGS="--scale 0.1"), prints national turnover by
#   year against the target, prints the dashboard URL, then serves DATA_DIR on LISTEN in the
#   foreground (Ctrl-C stops it cleanly).
set -euo pipefail

usage="usage: scripts/run.sh TECHLEDGER DATA_DIR LISTEN"
bin=${1:?$usage}
data=${2:?$usage}
listen=${3:-127.0.0.1:8080}

if [ ! -x "$bin" ]; then
  echo "run.sh: $bin is not built (make all builds it)" >&2
  exit 1
fi
case "$listen" in
  *:*) ;;
  *) echo "run.sh: LISTEN must be HOST:PORT, got '$listen'" >&2; exit 2 ;;
esac

if [ -d "$data/db" ]; then
  # The demo writes demo.txt last: a demo ledger without it was interrupted half way.
  if [ -d "$data/keys" ] && [ ! -f "$data/demo.txt" ]; then
    echo "run.sh: $data holds an interrupted demonstration ledger (no demo.txt)." >&2
    echo "        Remove it (rm -rf '$data') and run again." >&2
    exit 1
  fi
  echo "run.sh: serving the existing ledger in $data"
else
  echo "run.sh: creating a demonstration ledger in $data: techledger demo $data${DEMO_ARGS:+ $DEMO_ARGS}"
  # Progress goes to stderr; the turnover table below comes from the ledger's views instead
  # of the demo's own summary (which stays in $data/demo.txt).
  # shellcheck disable=SC2086 # DEMO_ARGS is a list of options
  "$bin" demo "$data" ${DEMO_ARGS:-} >/dev/null
fi

# Turnover against the target, from the ledger's own views (this also brings the views up to
# date, so the dashboard answers at once). Amounts in 亿元 (10^8 yuan = 10^10 fen).
if "$bin" --help 2>/dev/null | grep -q '^  report '; then
  echo
  echo "全国技术合同成交额 National technology-contract turnover (techledger report $data turnover --by year)"
  "$bin" report "$data" turnover --by year --format csv | awk -F, '
    NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    {
      fen = $col["total_fen"]; year = $col["year"]
      mark = ""
      if (fen >= 2e14 && !crossed) { crossed = year; mark = "  <- 2-trillion target crossed" }
      printf "  %s %10d contracts %14.2f 亿元 %7.1f%% of 20,000亿元%s\n", year, $col["contracts"], fen / 1e10, fen / 2e12, mark
    }
    END { if (crossed) printf "  The 2-trillion-yuan target was first reached in %s.\n", crossed }'
fi

host=${listen%:*}
port=${listen##*:}
case "$host" in
  "" | 0.0.0.0 | "[::]") shown=localhost ;;
  *) shown=$host ;;
esac
echo
echo "Dashboard: http://$shown:$port/    (API: http://$shown:$port/v1/checkpoint, /v1/views/turnover?by=year)"
echo
exec "$bin" serve "$data" --listen "$listen"
