# Throwaway PostgreSQL and Redis for tests and benchmarks. Source it, then call
#   start_services WORKDIR [PG_SETTINGS...]
# It installs the Debian packages when missing, starts both servers on free loopback ports with
# their data under WORKDIR, and exports SYNC_TEST_POSTGRES (an Npgsql connection string) and
# SYNC_TEST_REDIS (host:port). stop_services stops them. Returns non-zero with a message on failure.
# It also exports SYNC_TEST_POSTGRES_RESTART and SYNC_TEST_REDIS_RESTART, shell commands that restart
# each server in place with the same settings and data (used by the chaos campaign): PostgreSQL
# with a fast shutdown (pg_ctl -m fast restart), Redis gracefully (SHUTDOWN SAVE writes its data
# to dump.rdb, which the new server loads).
# For the sink-rollback fault it exports SYNC_TEST_REDIS_SNAPSHOT, which writes a point-in-time
# snapshot (SAVE) and copies dump.rdb aside, and SYNC_TEST_REDIS_ROLLBACK, which stops Redis without
# saving (SHUTDOWN NOSAVE), puts that older dump.rdb back and starts the same server on it: a Redis
# restarted from an older snapshot. (SAVE: https://redis.io/docs/latest/commands/save/ ; SHUTDOWN
# NOSAVE: https://redis.io/docs/latest/commands/shutdown/ ; the RDB file is loaded at start from
# --dir: https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/)

services_log() { echo "services: $*" >&2; }

# shellcheck source=redis-cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/redis-cluster.sh"

services_as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

services_pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

services_run_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

services_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
    || { for _ in $(seq 50); do p=$((20000 + RANDOM % 20000)); (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }; done; }
}

start_services() {
  SERVICES_DIR="$1"; shift
  if [[ -z "$(services_pg_bin)" ]] || ! command -v redis-server >/dev/null; then
    services_log "installing postgresql and redis-server from Debian packages"
    services_as_root apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive services_as_root apt-get install -y -qq postgresql redis-server >/dev/null \
      || { services_log "could not install postgresql and redis-server"; return 1; }
  fi
  SERVICES_PGBIN="$(services_pg_bin)"
  chmod 755 "$SERVICES_DIR"
  local pg_dir="$SERVICES_DIR/pg" pg_port redis_port settings="" s
  for s in "$@"; do settings="$settings -c $s"; done
  pg_port=$(services_free_port)
  mkdir -p "$pg_dir"
  [[ $(id -u) -eq 0 ]] && chown postgres "$SERVICES_DIR" "$pg_dir"
  if ! services_run_pg "$SERVICES_PGBIN/initdb" -D "$pg_dir" -U postgres -A trust --no-sync >"$SERVICES_DIR/initdb.log" 2>&1; then
    cat "$SERVICES_DIR/initdb.log" >&2; services_log "initdb failed"; return 1
  fi
  if ! services_run_pg "$SERVICES_PGBIN/pg_ctl" -D "$pg_dir" -w -l "$SERVICES_DIR/pg.log" \
      -o "-p $pg_port -k $SERVICES_DIR -c listen_addresses=127.0.0.1 -c max_connections=200$settings" start >/dev/null; then
    cat "$SERVICES_DIR/pg.log" >&2; services_log "postgres did not start"; return 1
  fi
  redis_port=$(services_free_port)
  local redis_start="redis-server --port $redis_port --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
--pidfile '$SERVICES_DIR/redis.pid' --dir '$SERVICES_DIR' --logfile '$SERVICES_DIR/redis.log' >/dev/null"
  local redis_wait="for _ in \$(seq 50); do redis-cli -p $redis_port ping >/dev/null 2>&1 && break; sleep 0.1; done"
  if ! eval "$redis_start"; then
    services_log "redis did not start"; return 1
  fi
  eval "$redis_wait"
  local pg_runner=""
  [[ $(id -u) -eq 0 ]] && pg_runner="runuser -u postgres -- "
  export SYNC_TEST_POSTGRES_RESTART="${pg_runner}'$SERVICES_PGBIN/pg_ctl' -D '$pg_dir' -w -m fast -l '$SERVICES_DIR/pg.log' restart >/dev/null"
  export SYNC_TEST_REDIS_RESTART="redis-cli -p $redis_port shutdown save >/dev/null 2>&1; \
for _ in \$(seq 100); do redis-cli -p $redis_port ping >/dev/null 2>&1 || break; sleep 0.05; done; $redis_start && $redis_wait"
  export SYNC_TEST_REDIS_SNAPSHOT="redis-cli -p $redis_port save >/dev/null && cp '$SERVICES_DIR/dump.rdb' '$SERVICES_DIR/dump.rdb.earlier'"
  export SYNC_TEST_REDIS_ROLLBACK="test -f '$SERVICES_DIR/dump.rdb.earlier' && { redis-cli -p $redis_port shutdown nosave >/dev/null 2>&1; \
for _ in \$(seq 100); do redis-cli -p $redis_port ping >/dev/null 2>&1 || break; sleep 0.05; done; \
cp '$SERVICES_DIR/dump.rdb.earlier' '$SERVICES_DIR/dump.rdb' && $redis_start && $redis_wait; }"
  export SYNC_TEST_POSTGRES="Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=postgres"
  export SYNC_TEST_REDIS="127.0.0.1:$redis_port"
  services_log "postgres on 127.0.0.1:$pg_port, redis on 127.0.0.1:$redis_port"
}

stop_services() {
  [[ -n "${SERVICES_DIR:-}" ]] || return 0
  [[ -f "$SERVICES_DIR/pg/postmaster.pid" ]] && services_run_pg "$SERVICES_PGBIN/pg_ctl" -D "$SERVICES_DIR/pg" -m immediate stop >/dev/null 2>&1
  [[ -f "$SERVICES_DIR/redis.pid" ]] && kill "$(cat "$SERVICES_DIR/redis.pid")" 2>/dev/null
  return 0
}

# Prometheus' promtool for the alert rule tests (tests/Sync.Deployment.Tests/AlertRulesTests), from
# Debian's prometheus package (about 16 s to install). Optional: when it cannot be installed, those
# tests are skipped with the reason, and this returns 0.
ensure_promtool() {
  command -v promtool >/dev/null && return 0
  services_log "installing promtool (Debian package prometheus)"
  DEBIAN_FRONTEND=noninteractive services_as_root apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 \
    || { services_as_root apt-get update -qq >/dev/null 2>&1 \
         && DEBIAN_FRONTEND=noninteractive services_as_root apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1; } \
    || services_log "could not install prometheus: the promtool tests will be skipped"
  return 0
}
