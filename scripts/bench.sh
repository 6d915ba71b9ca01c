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
    # Then 1 and 2 service replicas on one PostgreSQL (docs/secure-factory-protocol.md, "Speed").
    bench_secure_factory) "$b" && "$b" replicas 1000 4 16 ;;
    *) "$b" ;;
    esac
done
