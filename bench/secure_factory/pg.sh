#!/bin/sh
# Starts (prints its URL) or stops a throw-away PostgreSQL 15 server for the benchmark.
PGBIN=/usr/lib/postgresql/15/bin
action=$1 root=$2
RUN=""
[ "$(id -u)" -eq 0 ] && RUN="runuser -u postgres --"
case $action in
start)
    [ -x "$PGBIN/initdb" ] || { echo "PostgreSQL 15 not installed"; exit 0; }
    mkdir -p "$root" && chmod 755 "$root"
    [ -n "$RUN" ] && chown postgres "$root"
    port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    $RUN "$PGBIN/initdb" -D "$root/data" -A trust -U kiln --no-sync >/dev/null 2>&1 || { echo "initdb failed"; exit 0; }
    $RUN "$PGBIN/pg_ctl" -D "$root/data" -l "$root/log" -w -o \
        "-p $port -k $root -c listen_addresses=127.0.0.1 -c max_connections=200 -c synchronous_commit=off" \
        start >/dev/null 2>&1 || { echo "pg_ctl failed"; exit 0; }
    $RUN "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U kiln factory >/dev/null 2>&1 || { echo "createdb failed"; exit 0; }
    echo "postgresql://kiln@127.0.0.1:$port/factory"
    ;;
stop)
    [ -d "$root/data" ] && $RUN "$PGBIN/pg_ctl" -D "$root/data" -m immediate stop >/dev/null 2>&1
    rm -rf "$root"
    ;;
esac
exit 0
