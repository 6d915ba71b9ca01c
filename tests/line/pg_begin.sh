# Sourced by the line tests on a real PostgreSQL, after FT and SRC are set: the libraries in
# their order (tests/sf/lib.sh first: tests/line/lib.sh's check/finish/cleanup win), a server
# started as its own user and stopped on exit, and a configurator home in HOME_DIR.
BIN=$(dirname "$FT")
. "$SRC/../sf/lib.sh"
. "$SRC/lib.sh"
trap 'cleanup; pg_stop; rm -rf "$WORK"' EXIT
start_postgres
HOME_DIR=$(newhome home)
