#!/bin/sh
# The short fuzz run of `make test` and CI: every libFuzzer target for SECONDS (default 30) from
# its seed corpus, two at a time, one table at the end (scripts/fuzz.sh). The bundle handler is
# the largest parser of untrusted bytes on the device: it gets twice the time.
set -eu
exec "$(dirname "$0")/fuzz.sh" --weight fcc_bundle=2 "$1" "${2:-30}"
