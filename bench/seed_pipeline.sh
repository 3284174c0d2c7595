#!/usr/bin/env bash
# The seed investigation's analyze_logs.sh, as grep/awk/sort (seeds 000/001/002): count, mean, min
# and max of queue_ms, rpc_ms and wait_ms, the ten slowest updates, and the timeline grep (whose
# `[weights] client.` pattern never matches the real `[weights][tid] client.` shape; kept as is).
# Usage: seed_pipeline.sh LOG OUTDIR
set -eu  # no pipefail: `sort | head` ends sort with SIGPIPE by design
log=$1 out=$2
mkdir -p "$out"
stats() {
  grep -o "$1=[0-9.]*" "$log" | cut -d= -f2 |
    awk '{ s += $1; n++; if (n == 1 || $1 < mn) mn = $1; if ($1 > mx) mx = $1 }
         END { if (n) printf "count %d mean %.1f min %.1f max %.1f\n", n, s / n, mn, mx }'
}
stats queue_ms > "$out/queue_ms_stats.txt"
stats rpc_ms > "$out/rpc_ms_stats.txt"
stats wait_ms > "$out/ckpt_wait_stats.txt"
grep 'client.done' "$log" | sed 's/.*wall_ms=\([0-9.]*\).*/\1 &/' | sort -rn | head -10 > "$out/slowest_updates.txt"
grep -E '\[weights\] client\.|\[gen\] batch\.(start|done)' "$log" > "$out/timeline.txt" || true
