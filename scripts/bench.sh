#!/bin/sh
# Runs every benchmark program (build/bin/bench_*) and prints its figures.
set -eu
cd "$(dirname "$0")/.."
for b in build/bin/bench_*; do
    [ -x "$b" ] || continue
    echo "== $(basename "$b")"
    "$b"
done
