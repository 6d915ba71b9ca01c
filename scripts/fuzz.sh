#!/bin/bash
# Runs every libFuzzer target for a fixed time and prints one table of what each reached:
# executions, executions per second (wall clock) and per CPU second, coverage (libFuzzer's final
# cov: edges and ft: features), inputs kept as crashes, and the verdict.
#
#   scripts/fuzz.sh [--jobs N] [--weight NAME=FACTOR]... BUILD_DIR SECONDS
#
# The targets are the directories fuzz/NAME/ that have a CMakeLists.txt; each must have built
# BUILD_DIR/bin/fuzz_NAME (a target that did not build is a failure, not a skip). Each runs for
# SECONDS (times its weight) from a fresh copy of its seed corpus fuzz/NAME/corpus, N at a time
# (default 2), longest first, with fuzz/NAME/NAME.dict as its dictionary and fuzz/NAME/lsan.supp
# as LeakSanitizer suppressions when they exist. Logs: BUILD_DIR/fuzz-logs/NAME.log; inputs that
# crashed, leaked or timed out are kept next to them as NAME-crash-*, NAME-leak-*, NAME-timeout-*.
# Exits 1 when any target crashed, leaked, timed out, ran out of memory or is missing.
set -euo pipefail

jobs=2
declare -A weight=()
while [ $# -gt 0 ]; do
    case $1 in
    --jobs) jobs=$2; shift 2 ;;
    --weight) weight[${2%%=*}]=${2#*=}; shift 2 ;;
    *) break ;;
    esac
done
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 [--jobs N] [--weight NAME=FACTOR]... BUILD_DIR [SECONDS]" >&2
    exit 2
fi
dir=$(cd "$1" && pwd)
seconds=${2:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
logs=$dir/fuzz-logs
work=$dir/fuzz-work
rm -rf "$logs" "$work"
mkdir -p "$logs" "$work"

names=()
for d in "$root"/fuzz/*/; do
    [ -f "$d/CMakeLists.txt" ] && names+=("$(basename "$d")")
done
if [ ${#names[@]} -eq 0 ]; then
    echo "fuzz: no targets under $root/fuzz" >&2
    exit 1
fi

budget_of() { echo $((seconds * ${weight[$1]:-1})); }

# One target; its verdict goes to NAME.status (ok, crash, leak, timeout, oom, missing, failed).
run_one() {
    local name=$1 bin=$dir/bin/fuzz_$1 log=$logs/$1.log budget
    budget=$(budget_of "$name")
    if [ ! -x "$bin" ]; then
        echo "fuzz: $bin was not built" >"$log"
        echo missing >"$logs/$name.status"
        return
    fi
    mkdir -p "$work/$name"
    if [ -d "$root/fuzz/$name/corpus" ]; then
        cp -r "$root/fuzz/$name/corpus/." "$work/$name/"
    fi
    # Optional per target: a libFuzzer dictionary, and LeakSanitizer suppressions for a leak
    # already reported (each entry says which bug it waits for).
    local extra=() env=()
    [ -f "$root/fuzz/$name/$name.dict" ] && extra+=(-dict="$root/fuzz/$name/$name.dict")
    [ -f "$root/fuzz/$name/lsan.supp" ] &&
        env+=(LSAN_OPTIONS="suppressions=$root/fuzz/$name/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}")
    # CPU seconds too: on a shared machine wall-clock execs/s says more about the neighbours.
    local rc=0 TIMEFORMAT='%3U %3S'
    {
        time env "${env[@]}" "$bin" -max_total_time="$budget" -print_final_stats=1 \
            -rss_limit_mb=2048 -timeout=25 -artifact_prefix="$logs/$name-" "${extra[@]}" \
            "$work/$name" >"$log" 2>&1 </dev/null || rc=$?
    } 2>"$logs/$name.cpu"
    local verdict=ok
    if [ $rc -ne 0 ]; then
        if grep -q 'ERROR: LeakSanitizer' "$log"; then
            verdict=leak
        elif grep -q 'ERROR: libFuzzer: timeout' "$log"; then
            verdict=timeout
        elif grep -q 'ERROR: libFuzzer: out-of-memory' "$log"; then
            verdict=oom
        elif grep -qE 'ERROR: (AddressSanitizer|UndefinedBehaviorSanitizer|libFuzzer)|runtime error:' "$log"; then
            verdict=crash
        else
            verdict=failed
        fi
    fi
    echo "$verdict" >"$logs/$name.status"
}

# Longest budget first, so the pool does not end waiting on one long target.
mapfile -t order < <(for n in "${names[@]}"; do echo "$(budget_of "$n") $n"; done | sort -k1,1nr -k2 |
    cut -d' ' -f2)
total=0
for n in "${names[@]}"; do total=$((total + $(budget_of "$n"))); done
echo "fuzz: ${#names[@]} targets, ${seconds}s each, $jobs at a time (about $(((total + jobs - 1) / jobs))s)"

running=0
for name in "${order[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    run_one "$name" &
    running=$((running + 1))
done
wait

stat_of() { grep -o "stat::$1: *[0-9]*" "$2" | grep -o '[0-9]*$' | tail -n 1; }
failed=0
row='%-22s %7s %11s %9s %7s %12s %6s %6s %7s  %s\n'
printf "$row" target seconds execs execs/s cpu-s execs/cpu-s cov ft crashes result
for name in "${names[@]}"; do
    log=$logs/$name.log
    verdict=$(cat "$logs/$name.status" 2>/dev/null || echo failed)
    execs=$(stat_of number_of_executed_units "$log" || true)
    rate=$(stat_of average_exec_per_sec "$log" || true)
    # The last status line libFuzzer printed carries the final coverage figures.
    last=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\) .*/\1/p' <<<"$last")
    crashes=$(find "$logs" -maxdepth 1 -name "$name-*" -type f | wc -l)
    cpu=$(awk '{ printf "%.1f", $1 + $2 }' "$logs/$name.cpu" 2>/dev/null || true)
    per_cpu=$(awk -v e="${execs:-0}" -v c="${cpu:-0}" 'BEGIN { if (c > 0) printf "%d", e / c; else print "?" }')
    printf "$row" "$name" "$(budget_of "$name")" "${execs:-?}" "${rate:-?}" "${cpu:-?}" \
        "$per_cpu" "${cov:-?}" "${ft:-?}" "$crashes" "$verdict"
    [ "$verdict" = ok ] || failed=$((failed + 1))
done
for name in "${names[@]}"; do
    if [ "$(cat "$logs/$name.status" 2>/dev/null)" != ok ]; then
        # The sanitizer's or libFuzzer's report, else the end of the log.
        echo "---- $name: $logs/$name.log"
        report=$(grep -n -m 1 -E '^==[0-9]+==ERROR|ERROR: libFuzzer|runtime error:' \
            "$logs/$name.log" | cut -d: -f1 || true)
        if [ -n "$report" ]; then
            tail -n +"$report" "$logs/$name.log" | head -n 40
        else
            tail -n 40 "$logs/$name.log"
        fi
    fi
done
rm -rf "$work"
if [ "$failed" -ne 0 ]; then
    echo "fuzz: $failed of ${#names[@]} targets FAILED (logs in $logs)"
    exit 1
fi
echo "fuzz: ${#names[@]} targets clean (logs in $logs)"
