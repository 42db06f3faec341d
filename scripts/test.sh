#!/usr/bin/env bash
# Runs every test project against throwaway PostgreSQL and Redis servers.
# Installs them from Debian packages when missing, starts them on free loopback ports with
# their data in a temp folder (removed at the end), exports their addresses as
# SYNC_TEST_POSTGRES and SYNC_TEST_REDIS (plus a Redis Cluster and a Sentinel deployment, exported as
# SYNC_TEST_REDIS_CLUSTER and SYNC_TEST_REDIS_SENTINEL), and prints as its last line
# "N passed, N failed" (", N skipped" when any), summed over all test projects.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
# A snapshot test whose .snap is missing (renamed, deleted) fails instead of writing a new baseline.
export SNAPSHOOTER_STRICT_MODE=on

log() { echo "test.sh: $*" >&2; }

# shellcheck source=lib/services.sh
source "$root/scripts/lib/services.sh"
work="$(mktemp -d /tmp/sync-test.XXXXXX)"
cleanup() { stop_redis_sentinel; stop_redis_cluster; stop_services; rm -rf "$work"; }
trap cleanup EXIT
# The test servers trade durability for speed; the tests never crash the server host.
if ! start_services "$work" fsync=off synchronous_commit=off full_page_writes=off; then
  echo "0 passed, 1 failed"; exit 1
fi
ensure_promtool
# The Redis sink's cluster and Sentinel tests (SYNC_TEST_REDIS_CLUSTER, SYNC_TEST_REDIS_SENTINEL). When
# these could not start, the cluster runs of the sink conformance suite fail (as every Redis test does
# without SYNC_TEST_REDIS) and the other cluster and Sentinel tests print a skip reason.
start_redis_cluster "$work" || log "the Redis Cluster did not start: the cluster conformance tests will fail, the other cluster tests be skipped"
start_redis_sentinel "$work" || log "the Redis Sentinel deployment did not start: its tests will be skipped"

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
