#!/bin/sh
# Runs every benchmark program (build/bin/bench_*) and prints its figures.
set -eu
cd "$(dirname "$0")/.."
for b in build/bin/bench_*; do
    [ -x "$b" ] || continue
    echo "== $(basename "$b")"
    case $(basename "$b") in
    # The HSM row: a SoftHSM2 token made for the run (skipped with a line when SoftHSM2 is absent).
    bench_fcu_prepare) sh tests/pki/with_softhsm.sh "$b" || "$b" ;;
    *) "$b" ;;
    esac
done
