#!/usr/bin/env bash
# Local PostgreSQL 15 cluster for LOACL development and tests (Debian 12, run as root).
#
#   scripts/local-postgres.sh start    # install (if needed), init, start, create roles + database
#   scripts/local-postgres.sh stop     # fast shutdown
#   scripts/local-postgres.sh status   # exit 0 when running
#   scripts/local-postgres.sh env      # print `export ...` lines:  eval "$(scripts/local-postgres.sh env)"
#   scripts/local-postgres.sh psql ... # psql as superuser `postgres` on database loacl (extra args passed on)
#
# Settings (environment):
#   LOACL_PG_DIR   cluster folder (default <repo>/.data/postgres). Holds data/ (PGDATA), run/ (Unix
#                  socket, mode 0700) and server.log. Every parent must be traversable by the
#                  `postgres` user: `start` adds o+x to parents that are not (and says so).
#   LOACL_PG_PORT  TCP port on 127.0.0.1 and socket port (default 25320)
#   LOACL_PG_TEST  1 = throwaway test cluster: fsync/synchronous_commit/full_page_writes off, 400 connections.
#
# Authentication: `trust` on the Unix socket, whose folder run/ is mode 0700 and owned by
# postgres, so only root and postgres can reach it; scram-sha-256 on 127.0.0.1/::1 with
# random passwords for loacl_owner and loacl_app generated once into <dir>/passwords.env
# (mode 0600, root only).
#
# Roles: loacl_owner (LOGIN, owns database `loacl` and every object, runs migrations) and
# loacl_app (LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE, owns nothing; the
# migrations grant it table privileges). Both are cluster-wide, so test databases see them too.
set -euo pipefail

BIN=/usr/lib/postgresql/15/bin
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_DIR="$(realpath -m "${LOACL_PG_DIR:-$REPO/.data/postgres}")"
PORT="${LOACL_PG_PORT:-25320}"
DATA="$PG_DIR/data"
SOCK="$PG_DIR/run"
LOG="$PG_DIR/server.log"
SECRETS="$PG_DIR/passwords.env"
DB=loacl

log() { echo "local-postgres: $*" >&2; }
as_pg() { runuser -u postgres -- "$@"; }
psql_super() { as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U postgres "$@"; }

need_root() {
    if [[ $EUID -ne 0 ]]; then log "must run as root (uses apt-get and runuser)"; exit 1; fi
}

install_postgres() {
    if [[ -x "$BIN/initdb" ]]; then return; fi
    log "installing postgresql (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql postgresql-client >/dev/null
    # The Debian package starts its own main cluster on 5432; we use our own folder and port only.
}

# postgres must be able to traverse every parent of PG_DIR.
make_parents_traversable() {
    local dir
    dir="$(dirname "$PG_DIR")"
    while [[ "$dir" != "/" ]]; do
        if ! as_pg test -x "$dir"; then
            log "chmod o+x $dir (so the postgres user can reach $PG_DIR)"
            chmod o+x "$dir"
        fi
        dir="$(dirname "$dir")"
    done
}

is_running() {
    [[ -f "$DATA/PG_VERSION" ]] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

init_cluster() {
    if [[ -f "$DATA/PG_VERSION" ]]; then return; fi
    log "initdb $DATA"
    as_pg "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=scram-sha-256 --no-sync >/dev/null
    cat >"$DATA/pg_hba.conf" <<'EOF'
# LOACL local cluster: trust on the private socket folder (mode 0700), passwords on loopback.
local   all   all                  trust
host    all   all   127.0.0.1/32   scram-sha-256
host    all   all   ::1/128        scram-sha-256
EOF
    chown postgres:postgres "$DATA/pg_hba.conf"
}

write_secrets() {
    if [[ -f "$SECRETS" ]]; then return; fi
    umask 077
    {
        echo "LOACL_PG_OWNER_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
        echo "LOACL_PG_APP_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
    } >"$SECRETS"
    chmod 600 "$SECRETS"
}

start_server() {
    local opts="-k $SOCK -p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_permissions=0700"
    if [[ "${LOACL_PG_TEST:-0}" == "1" ]]; then
        # Test suites run in parallel, each with its own servers, pools and run listeners.
        opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400"
    fi
    log "starting on port $PORT (socket folder $SOCK)"
    as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 -o "$opts" start >/dev/null
}

# Roles and database; safe to repeat (passwords are re-applied from passwords.env).
provision() {
    # shellcheck disable=SC1090
    source "$SECRETS"
    psql_super -d postgres \
        -v owner_pw="$LOACL_PG_OWNER_PASSWORD" -v app_pw="$LOACL_PG_APP_PASSWORD" <<'SQL'
SELECT 'CREATE ROLE loacl_owner' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'loacl_owner') \gexec
SELECT 'CREATE ROLE loacl_app' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'loacl_app') \gexec
ALTER ROLE loacl_owner LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD :'owner_pw';
ALTER ROLE loacl_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD :'app_pw';
SELECT 'CREATE DATABASE loacl OWNER loacl_owner ENCODING ''UTF8''' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'loacl') \gexec
REVOKE ALL ON DATABASE loacl FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE loacl TO loacl_app;
SQL
}

cmd_start() {
    need_root
    # Unix socket paths are limited to 107 bytes.
    if (( ${#SOCK} + ${#PORT} + 12 > 107 )); then
        log "socket path $SOCK/.s.PGSQL.$PORT is too long; set LOACL_PG_DIR to a shorter folder"
        exit 1
    fi
    install_postgres
    mkdir -p "$PG_DIR"
    make_parents_traversable
    chmod 0755 "$PG_DIR"
    mkdir -p "$DATA" "$SOCK"
    chown postgres:postgres "$PG_DIR" "$DATA" "$SOCK"
    chmod 0700 "$DATA" "$SOCK"
    write_secrets
    if is_running; then
        log "already running (port $PORT)"
    else
        init_cluster
        start_server
    fi
    provision
    log "ready: database $DB on $SOCK port $PORT"
}

cmd_stop() {
    need_root
    if is_running; then
        as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
        log "stopped"
    else
        log "not running"
    fi
}

cmd_status() {
    if is_running; then
        echo "running: $DATA (port $PORT, socket folder $SOCK)"
    else
        echo "stopped: $DATA"
        return 3
    fi
}

cmd_env() {
    local owner_pw="" app_pw=""
    if [[ -r "$SECRETS" ]]; then
        # shellcheck disable=SC1090
        source "$SECRETS"
        owner_pw="$LOACL_PG_OWNER_PASSWORD"
        app_pw="$LOACL_PG_APP_PASSWORD"
    fi
    cat <<EOF
export LOACL_PG_HOST='$SOCK'
export LOACL_PG_PORT='$PORT'
export LOACL_TEST_PG_HOST='$SOCK'
export LOACL_TEST_PG_PORT='$PORT'
export LOACL_DATABASE_URL='host=$SOCK port=$PORT dbname=$DB user=loacl_app'
export LOACL_MIGRATION_DATABASE_URL='host=$SOCK port=$PORT dbname=$DB user=loacl_owner'
export LOACL_TCP_DATABASE_URL='host=127.0.0.1 port=$PORT dbname=$DB user=loacl_app password=$app_pw'
export LOACL_TCP_MIGRATION_DATABASE_URL='host=127.0.0.1 port=$PORT dbname=$DB user=loacl_owner password=$owner_pw'
EOF
}

cmd_psql() {
    need_root
    exec runuser -u postgres -- "$BIN/psql" -X -h "$SOCK" -p "$PORT" -U postgres -d "$DB" "$@"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    psql) shift; cmd_psql "$@" ;;
    *)
        echo "usage: $0 {start|stop|status|env|psql [args]}" >&2
        exit 2
        ;;
esac
