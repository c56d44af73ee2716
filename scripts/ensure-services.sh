#!/usr/bin/env bash
# Make sure PostgreSQL answers on 127.0.0.1:5432 (role postgres, password postgres) and Redis on
# 127.0.0.1:6379, for `make test` and CI.
#
#   reachable            -> nothing to do, prints nothing
#   installed, stopped   -> start them
#   not installed        -> apt-get install postgresql redis-server (as root, or with sudo), start
#
# Exits non-zero with a message saying why when a service cannot be had.
# ENSURE_SERVICES_TIMEOUT (seconds, default 30) bounds the wait after starting.
set -euo pipefail

HOST=127.0.0.1
PG_PORT=5432
REDIS_PORT=6379
TIMEOUT=${ENSURE_SERVICES_TIMEOUT:-30}

SCRIPT_NAME=ensure-services
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

# Run a command as the postgres OS user (for psql over the local socket, peer auth).
as_postgres() {
    if [ "$(id -u)" -eq 0 ] && command -v runuser >/dev/null; then
        runuser -u postgres -- "$@"
    elif [ "$(id -u)" -eq 0 ]; then
        su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    elif command -v sudo >/dev/null; then
        sudo -u postgres "$@"
    else
        die "'$*' must run as the postgres user; this user is not root and has no sudo."
    fi
}

# A TCP check with Python when the service's own client is not installed.
python_probe() { # kind port
    python3 - "$1" "$HOST" "$2" <<'EOF' 2>/dev/null
import socket, sys
kind, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
with socket.create_connection((host, port), timeout=2) as s:
    if kind == "redis":
        s.sendall(b"PING\r\n")
        sys.exit(0 if s.recv(64).startswith(b"+PONG") else 1)
EOF
}

pg_up() {
    if command -v pg_isready >/dev/null; then
        pg_isready -q -h "$HOST" -p "$PG_PORT" -t 2
    else
        python_probe pg "$PG_PORT"
    fi
}

redis_up() {
    if command -v redis-cli >/dev/null; then
        [ "$(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]
    else
        python_probe redis "$REDIS_PORT"
    fi
}

pg_installed() { command -v pg_ctlcluster >/dev/null && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; }
redis_installed() { command -v redis-server >/dev/null; }

apt_install() {
    command -v apt-get >/dev/null || die "$* not installed and there is no apt-get here: install $* yourself."
    say "installing $* with apt-get"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null ||
        die "apt-get update failed"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null ||
        die "apt-get install $* failed"
}

start_postgres() {
    local found=0 version cluster port status _rest
    while read -r version cluster port status _rest; do
        found=1
        [ "$status" = "online" ] && continue
        say "starting PostgreSQL cluster $version/$cluster (port $port)"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start ||
            die "pg_ctlcluster $version $cluster start failed (see /var/log/postgresql/)"
    done < <(pg_lsclusters --no-header 2>/dev/null)
    [ "$found" -eq 1 ] || die "PostgreSQL is installed but has no cluster (pg_lsclusters is empty): create one with 'pg_createcluster <version> main'."
}

start_redis() {
    local dir
    if [ "$(id -u)" -eq 0 ] && [ -d /var/lib/redis ]; then
        dir=/var/lib/redis
    else
        dir="${TMPDIR:-/tmp}/schoolops-redis-$(id -u)"
        mkdir -p "$dir"
    fi
    say "starting redis-server on $HOST:$REDIS_PORT (dir $dir)"
    redis-server --daemonize yes --bind "$HOST" --port "$REDIS_PORT" --save "" --appendonly no \
        --dir "$dir" --logfile "$dir/schoolops-redis.log" >/dev/null ||
        die "redis-server did not start (see $dir/schoolops-redis.log)"
}

wait_for() { # check-function
    local deadline=$((SECONDS + TIMEOUT))
    until "$1"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 1
    done
}

# Log in over TCP as postgres/postgres; set the password when that fails (a fresh Debian install
# uses scram-sha-256 on 127.0.0.1 and the role has no password yet). With trust auth it passes.
ensure_pg_login() {
    command -v psql >/dev/null || return 0
    local probe=(psql -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -w -qAtc 'select 1')
    PGPASSWORD=postgres PGCONNECT_TIMEOUT=5 "${probe[@]}" >/dev/null 2>&1 && return 0
    say "setting the password of role postgres to 'postgres'"
    (cd / && as_postgres psql -p "$PG_PORT" -qAtc "ALTER USER postgres PASSWORD 'postgres'") >/dev/null ||
        die "could not set the password of role postgres"
    PGPASSWORD=postgres PGCONNECT_TIMEOUT=5 "${probe[@]}" >/dev/null ||
        die "PostgreSQL answers on $HOST:$PG_PORT but role postgres cannot log in with password 'postgres': check pg_hba.conf."
}

started=0

if ! pg_up; then
    pg_installed || apt_install postgresql
    start_postgres
    started=1
fi
if ! redis_up; then
    redis_installed || apt_install redis-server
    redis_up || start_redis # the package's own service may already have started it
    started=1
fi

if [ "$started" -eq 1 ]; then
    wait_for pg_up || die "PostgreSQL does not answer on $HOST:$PG_PORT after ${TIMEOUT}s (see /var/log/postgresql/)."
    wait_for redis_up || die "Redis does not answer on $HOST:$REDIS_PORT after ${TIMEOUT}s."
fi
ensure_pg_login
if [ "$started" -eq 1 ]; then
    say "PostgreSQL on $HOST:$PG_PORT and Redis on $HOST:$REDIS_PORT are up"
fi
