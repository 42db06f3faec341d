#!/usr/bin/env bash
# Runs every test project against throwaway PostgreSQL and Redis servers.
# Installs them from Debian packages when missing, starts them on free loopback ports with
# their data in a temp folder (removed at the end), exports their addresses as
# SYNC_TEST_POSTGRES and SYNC_TEST_REDIS, and prints as its last line
# "N passed, N failed" (", N skipped" when any), summed over all test projects.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1

log() { echo "test.sh: $*" >&2; }

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [[ -z "$(pg_bin)" ]] || ! command -v redis-server >/dev/null; then
  log "installing postgresql and redis-server from Debian packages"
  as_root apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql redis-server >/dev/null \
    || { log "could not install postgresql and redis-server"; echo "0 passed, 1 failed"; exit 1; }
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
    || { for _ in $(seq 50); do p=$((20000 + RANDOM % 20000)); (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }; done; }
}

work="$(mktemp -d /tmp/sync-test.XXXXXX)"
chmod 755 "$work"
pg_dir="$work/pg"
PGBIN="$(pg_bin)"
run_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cleanup() {
  [[ -f "$pg_dir/postmaster.pid" ]] && run_pg "$PGBIN/pg_ctl" -D "$pg_dir" -m immediate stop >/dev/null 2>&1
  [[ -f "$work/redis.pid" ]] && kill "$(cat "$work/redis.pid")" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

pg_port=$(free_port)
mkdir -p "$pg_dir"
[[ $(id -u) -eq 0 ]] && chown postgres "$work" "$pg_dir"
if ! run_pg "$PGBIN/initdb" -D "$pg_dir" -U postgres -A trust --no-sync >"$work/initdb.log" 2>&1; then
  cat "$work/initdb.log" >&2; log "initdb failed"; echo "0 passed, 1 failed"; exit 1
fi
if ! run_pg "$PGBIN/pg_ctl" -D "$pg_dir" -w -l "$work/pg.log" \
    -o "-p $pg_port -k $work -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null; then
  cat "$work/pg.log" >&2; log "postgres did not start"; echo "0 passed, 1 failed"; exit 1
fi
redis_port=$(free_port)
if ! redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "$work/redis.pid" --dir "$work" --logfile "$work/redis.log" >/dev/null; then
  log "redis did not start"; echo "0 passed, 1 failed"; exit 1
fi
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done

export SYNC_TEST_POSTGRES="Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=postgres"
export SYNC_TEST_REDIS="127.0.0.1:$redis_port"
log "postgres on 127.0.0.1:$pg_port, redis on 127.0.0.1:$redis_port"

if ! dotnet build Sync.slnx -c Debug --nologo -v quiet -clp:ErrorsOnly >"$work/build.log" 2>&1; then
  cat "$work/build.log"; log "the build failed"; echo "0 passed, 1 failed"; exit 1
fi

passed=0; failed=0; skipped=0; status=0
for project in tests/*.Tests/*.csproj; do
  name="$(basename "$project" .csproj)"
  log "running $name"
  out="$work/$name.log"
  dotnet test "$project" --no-build -c Debug --nologo --logger "console;verbosity=minimal" \
    --logger "trx;LogFileName=$work/$name.trx" >"$out" 2>&1
  code=$?
  # Skipped tests with their reasons (e.g. "Docker is not available").
  [[ -f "$work/$name.trx" ]] && awk 'BEGIN{RS="<UnitTestResult "} /outcome="NotExecuted"/ {
      n=$0; sub(/.*testName="/,"",n); sub(/".*/,"",n)
      m=$0; if (m ~ /<Message>/) { sub(/.*<Message>/,"",m); sub(/<\/Message>.*/,"",m) } else m="no reason given"
      print "  skipped: " n ": " m }' "$work/$name.trx"
  # Show failures and skips with their reasons; the full log is in the temp folder meanwhile.
  # Each failure with its message and the top of its stack trace.
  awk '/^  Failed /{show=1; n=0} show{print; n++} /^  Stack Trace:/{if (show) {left=4}} left>0 && !/Stack Trace/{left--; if (left==0) show=0}' "$out" | head -300
  summary="$(grep -E "^(Passed|Failed)!" "$out" | tail -n 1)"
  if [[ -z "$summary" && $code -eq 0 ]] && grep -q "No test is available" "$out"; then
    echo "$name: no tests"; continue
  fi
  if [[ -z "$summary" ]]; then
    tail -n 40 "$out"; log "$name produced no test summary (exit $code)"; failed=$((failed + 1)); status=1; continue
  fi
  echo "$name: $summary"
  p=$(sed -E 's/.*Passed: *([0-9]+).*/\1/' <<<"$summary")
  f=$(sed -E 's/.*Failed: *([0-9]+).*/\1/' <<<"$summary")
  s=$(sed -E 's/.*Skipped: *([0-9]+).*/\1/' <<<"$summary")
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  [[ $code -ne 0 || $f -ne 0 ]] && status=1
done

[[ $passed -eq 0 ]] && { log "no test ran"; status=1; }
line="$passed passed, $failed failed"
[[ $skipped -gt 0 ]] && line="$line, $skipped skipped"
echo "$line"
exit $status
