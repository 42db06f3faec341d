#!/usr/bin/env bash
# The reliability campaign against throwaway PostgreSQL and Redis servers (docs/reliability.md).
#   ./scripts/chaos.sh [--kills N] [--seed S]     crash-and-fault campaign (default 50 kills, seed 1)
#   ./scripts/chaos.sh --overload [--seed S]      a 10x burst: peak RSS, time to catch up, nothing dropped
#   ./scripts/chaos.sh --fuzz N [--seed S]        N random and mutated inputs to every parser
#   ./scripts/chaos.sh --cluster [--kills N]      the campaign with a fourth sink, a local Redis Cluster
#                                                 (scripts/lib/redis-cluster.sh), whose primaries are also
#                                                 killed with SIGKILL (fault redis-cluster-crash)
# Other options go to the campaign tool (tests/Sync.Chaos): --rate R, --catch-up-timeout SECONDS,
# --burst-seconds S. Builds the tool (Release), starts PostgreSQL and Redis on free loopback ports
# (scripts/lib/services.sh, with their restart commands for the restart faults), runs the campaign
# and prints its figure line last, e.g. "kills: 50, faults: 31, lost: 0, regressed: 0, duplicated: 0".
# Exit code 0 when nothing was lost, regressed or duplicated (no crash and no hang for --fuzz).
# The work folder (config, sync logs, dead letters) is kept when the campaign fails.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1

log() { echo "chaos.sh: $*" >&2; }

# shellcheck source=lib/services.sh
source "$root/scripts/lib/services.sh"
work="$(mktemp -d /tmp/sync-chaos.XXXXXX)"
status=1
cleanup() {
  stop_redis_cluster
  stop_services
  if [[ $status -eq 0 ]]; then rm -rf "$work"; else log "kept $work (sync logs, config, dead letters)"; fi
}
trap cleanup EXIT

if ! dotnet build tests/Sync.Chaos/Sync.Chaos.csproj -c Release --nologo -v quiet -clp:ErrorsOnly >"$work/build.log" 2>&1; then
  cat "$work/build.log"; log "the build failed"; exit 1
fi

fuzz_only=0; cluster=0; args=()
for arg in "$@"; do
  [[ $arg == --fuzz ]] && fuzz_only=1
  if [[ $arg == --cluster ]]; then cluster=1; else args+=("$arg"); fi
done
# The servers keep their default durability: the campaign restarts them and expects nothing lost.
if [[ $fuzz_only -eq 0 ]]; then
  start_services "$work" || { log "could not start PostgreSQL and Redis"; exit 1; }
  # With durable commits a crash (immediate shutdown, WAL recovery on start) must lose nothing
  # that was committed; the test suite's servers run without fsync, so only this script crashes one.
  export SYNC_TEST_POSTGRES_CRASH="${SYNC_TEST_POSTGRES_RESTART/-m fast/-m immediate}"
fi

if [[ $cluster -eq 1 ]]; then
  start_redis_cluster "$work" || { log "could not start the Redis Cluster"; exit 1; }
  args+=(--redis-cluster "$SYNC_TEST_REDIS_CLUSTER" --redis-cluster-crash "bash -c \"source '$root/scripts/lib/services.sh' && crash_redis_cluster_primary '$work'\"")
fi

dotnet "$root/artifacts/bin/Sync.Chaos/release/Sync.Chaos.dll" --work "$work/campaign" "${args[@]}"
status=$?
exit $status
