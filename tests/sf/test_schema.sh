#!/bin/sh
# Schema 2 (CONFIG_REQUEST in session_messages, its hash in the sessions row) and the migration of
# a schema-1 database, on SQLite and (when installed) PostgreSQL. A database with one session
# configured but not finished and one done is taken back to schema 1 (the sessions table as the
# service before schema 2 created it, msg2_out in the row, no session_messages, no
# schema_version); the service started on it migrates it, returns the same configuration to a
# retried step, finishes the open session (its row has no hash: the message is hashed) and
# repeats the done one's fingerprint. Sessions after the migration carry the hash, and the
# sessions table of SQLite has no overflow page (the reason for schema 2).
BIN=$1
. "$(dirname "$0")/lib.sh"

# The sessions table of schema 1, as sf_store.c created it before schema 2.
V1_SESSIONS="CREATE TABLE sessions (sid TEXT PRIMARY KEY, attempt BIGINT NOT NULL, version BIGINT NOT NULL, state TEXT NOT NULL, station TEXT NOT NULL, batch TEXT NOT NULL, msg1 TEXT, th TEXT, msg2_in TEXT, msg2_out TEXT, confirm TEXT, device_key TEXT, cert TEXT, fingerprint TEXT, msg3_in TEXT, error_code BIGINT, error_reason TEXT, created BIGINT NOT NULL, updated BIGINT NOT NULL, expires BIGINT NOT NULL)"
V1_COLUMNS="sid, attempt, version, state, station, batch, msg1, th, msg2_in, msg2_out, confirm, device_key, cert, fingerprint, msg3_in, error_code, error_reason, created, updated, expires"

stop_service() {
    kill "$LAST_PID"
    wait "$LAST_PID" 2>/dev/null || true
}

# scenario ENGINE: sql runs one statement on the engine's database (the service stopped).
scenario() {
    engine=$1
    start_service "$DIR" "$PORT" "$WORK/$engine.log"
    p=$("$BIN/factory_tool" new_device "$engine-open" | payload)
    r_open=$("$BIN/factory_client" --storage "$WORK/$engine-open" sf "$p" --factory-trust "$TRUST")
    c_open=$("$BIN/factory_tool" get_device_configuration "$engine-open" "$r_open" | payload)
    [ -n "$c_open" ] || fail "$engine: no configuration"
    provision "$engine-done" "$WORK/$engine-done" >"$WORK/fp" || fail "$engine: provision"
    fp_done=$(cat "$WORK/fp")
    r_done=$resp
    stop_service

    # Back to schema 1.
    [ "$(sql "SELECT version FROM schema_version")" = 2 ] || fail "$engine: schema_version not 2"
    if [ "$engine" = sqlite ]; then
        sqlite3 "$DIR/factory.db" "BEGIN; ALTER TABLE sessions RENAME TO sessions_v2; $V1_SESSIONS;
            INSERT INTO sessions ($V1_COLUMNS) SELECT s.sid, s.attempt, s.version, s.state,
            s.station, s.batch, s.msg1, s.th, s.msg2_in, m.msg2_out, s.confirm, s.device_key,
            s.cert, s.fingerprint, s.msg3_in, s.error_code, s.error_reason, s.created, s.updated,
            s.expires FROM sessions_v2 s LEFT JOIN session_messages m ON m.sid = s.sid AND
            m.attempt = s.attempt; DROP TABLE sessions_v2; DROP TABLE session_messages;
            DROP TABLE schema_version; COMMIT;" || fail "sqlite: downgrade"
    else
        sql "BEGIN; ALTER TABLE sessions ADD COLUMN msg2_out TEXT; UPDATE sessions s SET msg2_out
            = m.msg2_out FROM session_messages m WHERE m.sid = s.sid AND m.attempt = s.attempt;
            ALTER TABLE sessions DROP COLUMN msg2_hash; DROP TABLE session_messages;
            DROP TABLE schema_version; COMMIT;" >/dev/null || fail "postgres: downgrade"
    fi
    [ "$(sql "SELECT COUNT(*) FROM sessions WHERE msg2_out IS NOT NULL")" = 2 ] ||
        fail "$engine: schema-1 database without its two messages"

    start_service "$DIR" "$PORT" "$WORK/$engine.log"
    [ "$(sql "SELECT COUNT(*) || ' ' || MAX(version) FROM schema_version")" = "1 2" ] ||
        fail "$engine: not migrated to schema 2"
    [ "$(sql "SELECT COUNT(*) FROM session_messages")" = 2 ] || fail "$engine: messages not moved"
    [ "$(sql "SELECT COUNT(*) FROM sessions WHERE msg2_hash IS NULL")" = 2 ] ||
        fail "$engine: migrated rows should carry no hash"
    if sql "SELECT msg2_out FROM sessions LIMIT 1" >/dev/null 2>&1; then
        fail "$engine: sessions.msg2_out still there"
    fi
    c2=$("$BIN/factory_tool" get_device_configuration "$engine-open" "$r_open" | payload)
    [ "$c2" = "$c_open" ] || fail "$engine: retried configuration differs after the migration"
    final=$("$BIN/factory_client" --storage "$WORK/$engine-open" sf "$c2" --factory-trust "$TRUST")
    fp=$("$BIN/factory_tool" handle_device_response "$engine-open" "$final" | sed -n 's/^FINGERPRINT //p')
    [ "$fp" = "$(stored_fingerprint "$WORK/$engine-open")" ] ||
        fail "$engine: migrated open session not finished"
    fp2=$("$BIN/factory_tool" handle_device_response "$engine-done" "$r_done" | sed -n 's/^FINGERPRINT //p')
    [ "$fp2" = "$fp_done" ] || fail "$engine: done session's fingerprint changed"

    # A session after the migration: the row carries the hash of the message it sent.
    p=$("$BIN/factory_tool" new_device "$engine-new" | payload)
    r=$("$BIN/factory_client" --storage "$WORK/$engine-new" sf "$p" --factory-trust "$TRUST")
    c=$("$BIN/factory_tool" get_device_configuration "$engine-new" "$r" | payload)
    want=$(printf %s "$c" | xxd -r -p | sha256sum | cut -c1-64)
    [ "$(sql "SELECT msg2_hash FROM sessions WHERE sid = '$engine-new'")" = "$want" ] ||
        fail "$engine: msg2_hash is not the SHA-256 of the CONFIG_REQUEST"
    final=$("$BIN/factory_client" --storage "$WORK/$engine-new" sf "$c" --factory-trust "$TRUST")
    fp=$("$BIN/factory_tool" handle_device_response "$engine-new" "$final" | sed -n 's/^FINGERPRINT //p')
    [ "$fp" = "$(stored_fingerprint "$WORK/$engine-new")" ] || fail "$engine: new session"
    stop_service

    # Opening a schema-2 database again changes nothing.
    start_service "$DIR" "$PORT" "$WORK/$engine.log"
    stop_service
    [ "$(sql "SELECT COUNT(*) || ' ' || MAX(version) FROM schema_version")" = "1 2" ] ||
        fail "$engine: schema_version after a second start"
}

init_service
sql() { sqlite3 "$DIR/factory.db" "$1"; }
scenario sqlite
# Every session row fits its page: no overflow page in the sessions table (dbstat, when this
# sqlite3 has it).
if sqlite3 "$DIR/factory.db" "SELECT 1 FROM dbstat LIMIT 1" >/dev/null 2>&1; then
    [ "$(sql "SELECT COUNT(*) FROM dbstat WHERE name = 'sessions' AND pagetype = 'overflow'")" = 0 ] ||
        fail "sqlite: the sessions table has overflow pages"
fi
passed="sqlite"

if [ -x "$PGBIN/initdb" ]; then
    start_postgres
    sed -i "s|^# db = .*|db = $DB|" "$DIR/service.conf"
    "$BIN/factory_service" add-station "$DIR" station-pg "$WORK/station-pg.pem" >/dev/null
    export FACTORY_STATION=$WORK/station-pg.pem
    sql() { q "$1"; }
    scenario postgres
    passed="$passed, postgres"
fi
echo "sf schema: migration from schema 1 passed ($passed)"
