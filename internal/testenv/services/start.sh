#!/usr/bin/env bash
# Sourced by scripts/test.sh: makes sure the tests have a PostgreSQL and a Redis, and exports
# HOOKKIT_TEST_POSTGRES (a postgres:// URL of a database the tests may create schemas in) and
# HOOKKIT_TEST_REDIS (a redis:// URL). For each service, in order:
#   1. the variable, when already set, is used as it is;
#   2. else the local default (127.0.0.1:5432 database "test" as user postgres, trust auth;
#      127.0.0.1:6379), when it answers;
#   3. else a throwaway server from Debian's packages (installed with apt-get when missing
#      and we are root), in a temporary directory, on a free port, stopped when the calling
#      shell exits.
# When none can be had the variable stays unset: the tests that need it skip, or fail when
# CI=true (see internal/testenv/services).
# The throwaway servers' directories and pids are kept in HOOKKIT_SERVICES_DIR.
# HOOKKIT_SERVICES_NO_LOCAL=1 skips step 2 (to try step 3 on a machine that has the defaults).

_hk_log() { echo "services: $*" >&2; }

_hk_free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

_hk_services_dir() {
  if [[ -z "${HOOKKIT_SERVICES_DIR:-}" ]]; then
    HOOKKIT_SERVICES_DIR=$(mktemp -d /tmp/hookkit-services.XXXXXX)
    chmod 755 "$HOOKKIT_SERVICES_DIR"
    export HOOKKIT_SERVICES_DIR
    trap _hk_stop_services EXIT
  fi
}

_hk_stop_services() {
  local d=${HOOKKIT_SERVICES_DIR:-}
  [[ -n "$d" && -d "$d" ]] || return 0
  if [[ -f "$d/pg/PG_VERSION" ]]; then
    _hk_as_postgres "$_HK_PG_BIN/pg_ctl" -D "$d/pg" -m immediate stop >/dev/null 2>&1 || true
  fi
  if [[ -f "$d/redis.pid" ]]; then kill "$(cat "$d/redis.pid")" 2>/dev/null || true; fi
  rm -rf "$d"
}

# _hk_as_postgres runs a command as the postgres user when we are root (initdb refuses root).
_hk_as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then
    su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}

_hk_pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [[ -x "$d/initdb" ]] && { echo "$d"; return 0; }
  done
  command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
  return 1
}

_hk_pg_answers() { # URL
  command -v psql >/dev/null 2>&1 || return 1
  PGCONNECT_TIMEOUT=3 psql "$1" -Atqc 'select 1' >/dev/null 2>&1
}

_hk_start_postgres() {
  if [[ -n "${HOOKKIT_TEST_POSTGRES:-}" ]]; then return 0; fi
  local local_url="postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
  if [[ -z "${HOOKKIT_SERVICES_NO_LOCAL:-}" ]] && _hk_pg_answers "$local_url"; then
    export HOOKKIT_TEST_POSTGRES=$local_url
    _hk_log "PostgreSQL: the local default (127.0.0.1:5432/test)"
    return 0
  fi
  if ! _HK_PG_BIN=$(_hk_pg_bin); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
      _hk_log "PostgreSQL: installing Debian's postgresql package"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null 2>&1 || true
    fi
    _HK_PG_BIN=$(_hk_pg_bin) || { _hk_log "PostgreSQL: none available"; return 0; }
  fi
  _hk_services_dir
  local port; port=$(_hk_free_port)
  mkdir -p "$HOOKKIT_SERVICES_DIR/pg" "$HOOKKIT_SERVICES_DIR/pgsock"
  [[ $(id -u) -eq 0 ]] && chown postgres "$HOOKKIT_SERVICES_DIR/pg" "$HOOKKIT_SERVICES_DIR/pgsock"
  _hk_as_postgres "$_HK_PG_BIN/initdb" -D "$HOOKKIT_SERVICES_DIR/pg" -U postgres -A trust --no-sync >/dev/null
  _hk_as_postgres "$_HK_PG_BIN/pg_ctl" -D "$HOOKKIT_SERVICES_DIR/pg" -w -l "$HOOKKIT_SERVICES_DIR/pg/log" \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $HOOKKIT_SERVICES_DIR/pgsock -c fsync=off -c max_connections=200" start >/dev/null
  _hk_as_postgres "$_HK_PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres test
  export HOOKKIT_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/test?sslmode=disable"
  _hk_log "PostgreSQL: a throwaway server on 127.0.0.1:$port ($HOOKKIT_SERVICES_DIR/pg)"
}

_hk_redis_answers() { # HOST PORT
  command -v redis-cli >/dev/null 2>&1 || return 1
  [[ $(timeout 3 redis-cli -h "$1" -p "$2" ping 2>/dev/null) == PONG ]]
}

_hk_start_redis() {
  if [[ -n "${HOOKKIT_TEST_REDIS:-}" ]]; then return 0; fi
  if [[ -z "${HOOKKIT_SERVICES_NO_LOCAL:-}" ]] && _hk_redis_answers 127.0.0.1 6379; then
    export HOOKKIT_TEST_REDIS="redis://127.0.0.1:6379/0"
    _hk_log "Redis: the local default (127.0.0.1:6379)"
    return 0
  fi
  if ! command -v redis-server >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
      _hk_log "Redis: installing Debian's redis-server package"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null 2>&1 || true
    fi
    command -v redis-server >/dev/null 2>&1 || { _hk_log "Redis: none available"; return 0; }
  fi
  _hk_services_dir
  local port; port=$(_hk_free_port)
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$HOOKKIT_SERVICES_DIR" --pidfile "$HOOKKIT_SERVICES_DIR/redis.pid" \
    --logfile "$HOOKKIT_SERVICES_DIR/redis.log" >/dev/null
  local i
  for i in $(seq 50); do _hk_redis_answers 127.0.0.1 "$port" && break; sleep 0.1; done
  export HOOKKIT_TEST_REDIS="redis://127.0.0.1:$port/0"
  _hk_log "Redis: a throwaway server on 127.0.0.1:$port"
}

_hk_start_postgres
_hk_start_redis
