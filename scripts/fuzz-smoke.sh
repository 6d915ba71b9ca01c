#!/bin/sh
# Runs every libFuzzer target for a short time from its seed corpus and prints the number of
# executions each reached. Any crash fails the run (libFuzzer exits non-zero).
set -eu
dir=$1
seconds=${2:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
found=0
for bin in "$dir"/bin/fuzz_*; do
    [ -x "$bin" ] || continue
    found=$((found + 1))
    name=$(basename "$bin")
    budget=$seconds
    # The bundle handler is the largest parser of untrusted bytes on the device: twice the time.
    [ "$name" = fuzz_fcc_bundle ] && budget=$((seconds * 2))
    work=$(mktemp -d)
    seeds="$root/fuzz/${name#fuzz_}/corpus"
    [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/ 2>/dev/null || true
    log="$dir/$name.log"
    if ! "$bin" -max_total_time="$budget" -print_final_stats=1 -rss_limit_mb=2048 "$work" >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz-smoke: $name FAILED"
        exit 1
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    echo "fuzz-smoke: $name ok, $execs executions in ${budget}s"
    rm -rf "$work"
done
echo "fuzz-smoke: $found targets"
