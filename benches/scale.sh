#!/bin/sh
# How a run's cost grows with the partition count, the key space and the
# run length, one at a time, with the same traffic: one replicated
# acks = "all" pipeline at 2,000 events/s (3 brokers, RF 3, one group of 4).
# Prints a Markdown table of wall time, simulated events per wall second,
# peak memory (from each run's perf.json) and the report folder's size.
#
#   sh benches/scale.sh                 # every row (a few minutes)
#   sh benches/scale.sh partitions      # one dimension: partitions, keys, length
#
# Uses target/dist/eventsim (the `dist` profile: fat LTO, as the figures in
# docs/performance.md; built if missing), or the binary named by $EVENTSIM,
# e.g. an older build to compare with. Compare builds in the same minute:
# this machine's speed varies (docs/performance.md).
set -eu
cd "$(dirname "$0")/.."
bin=${EVENTSIM:-target/dist/eventsim}
[ -x "$bin" ] || cargo build --profile dist --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

scenario() { # keys partitions duration dist
    cat <<T
[scenario]
name = "scale"
duration = "$3"
drain = "10s"
[cluster]
brokers = 3
[[topics]]
name = "orders"
partitions = $2
replication_factor = 3
min_insync_replicas = 2
[[producers]]
name = "p"
topic = "orders"
rate = 2000
acks = "all"
keys = { dist = "$4", n = $1 }
[[groups]]
name = "g"
topics = ["orders"]
consumers = 4
auto_offset_reset = "earliest"
processing = { dist = "exponential", mean = "0.1ms" }
T
}

field() { # perf.json field
    sed -n "s/.*\"$2\": \([0-9.]*\).*/\1/p" "$1/perf.json"
}

row() { # label keys partitions duration dist
    scenario "$2" "$3" "$4" "$5" >"$work/s.toml"
    rm -rf "$work/out"
    code=0
    "$bin" run "$work/s.toml" --out "$work/out" --quiet --max-memory 16GiB 2>"$work/err" || code=$?
    if [ ! -f "$work/out/perf.json" ]; then
        printf '| %s | exit %s: %s | | | |\n' "$1" "$code" "$(head -c 120 "$work/err")"
        return
    fi
    wall=$(field "$work/out" wall_time_s)
    rate=$(field "$work/out" events_produced_per_s)
    peak=$(field "$work/out" peak_memory_bytes)
    size=$(du -sk "$work/out" | cut -f1)
    awk -v l="$1" -v w="$wall" -v r="$rate" -v p="$peak" -v s="$size" 'BEGIN {
        printf "| %s | %.2f s | %.0f K/s | %.0f MiB | %.1f MiB |\n", l, w, r / 1000, p / 1048576, s / 1024
    }'
}

what=${1:-all}
echo "| run | wall time | events produced per wall second | peak memory | report folder |"
echo "|---|---|---|---|---|"
if [ "$what" = all ] || [ "$what" = partitions ]; then
    for p in 12 120 1200 6000 10000; do
        row "$p partitions (100,000 uniform keys, 60 s)" 100000 "$p" 60s uniform
    done
fi
if [ "$what" = all ] || [ "$what" = keys ]; then
    for k in 1000 1000000 10000000 1000000000 9223372036854775807; do
        row "$k uniform keys (12 partitions, 60 s)" "$k" 12 60s uniform
    done
fi
if [ "$what" = all ] || [ "$what" = length ]; then
    for d in 60s 600s 3600s; do
        row "$d of traffic (12 partitions, 1,000 keys)" 1000 12 "$d" uniform
    done
fi
