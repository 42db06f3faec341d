#!/usr/bin/env bash
# sync verify at scale: KEYS keys (default 1,000,000) materialized from a changelog file into
# PostgreSQL, Redis and the Elasticsearch fake by `sync run`, then `sync verify` timed, with its peak
# RSS (GNU time's "Maximum resident set size"), its CPU (user + system) and the load average at its
# end. Prints one line per sink; the figures go to docs/benchmarks.md by hand.
# SINKS="postgres redis elasticsearch" (the default) picks the sinks.
# Goals (issue 20): PostgreSQL < 60 s, Redis and Elasticsearch (fake) < 120 s, memory flat in the
# number of keys. The Elasticsearch fake (tests/Sync.Testing) serves from its own process
# (bench/Sync.Bench.EndToEnd --serve-elasticsearch, until its standard input closes), so neither
# its time to answer nor its memory is in the verify process's RSS, only in the wall time.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
keys="${1:-1000000}"
sinks="${SINKS:-postgres redis elasticsearch}"

# shellcheck source=../scripts/lib/services.sh
source "$root/scripts/lib/services.sh"
work="$(mktemp -d /tmp/sync-bench-verify.XXXXXX)"
es_pid=""
cleanup() {
  if [[ -n "$es_pid" ]]; then exec 8>&-; wait "$es_pid" 2>/dev/null || true; fi
  stop_services; rm -rf "$work"
}
trap cleanup EXIT
start_services "$work" fsync=off synchronous_commit=off >&2

topic="persistent://public/default/db1.public.users"
mkdir -p "$work/data"
awk -v n="$keys" -v t="$topic" 'BEGIN { for (i = 1; i <= n; i++)
  printf "{\"topic\":\"%s\",\"key\":{\"id\":%d},\"value\":{\"op\":\"c\",\"after\":{\"id\":%d,\"name\":\"user-%d\",\"balance\":\"%d.50\"},\"source\":{\"lsn\":%d}}}\n", t, i, i, i, i, i }' \
  >"$work/data/users.jsonl"

for sink in $sinks; do
  case "$sink" in
    postgres) block="{ type: postgres, connectionString: '$SYNC_TEST_POSTGRES', tls: disable, schema: bench }"; target="" ;;
    redis) block="{ type: redis, endpoints: ['$SYNC_TEST_REDIS'], keyPrefix: 'bench:sync:' }"; target=", target: { keyTemplate: 'bench:user:{id}' }" ;;
    elasticsearch)
      dotnet build "$root/bench/Sync.Bench.EndToEnd/Sync.Bench.EndToEnd.csproj" -c Release -v quiet -clp:ErrorsOnly >&2
      mkfifo "$work/es.in"
      dotnet run --no-build -c Release --project "$root/bench/Sync.Bench.EndToEnd" -- --serve-elasticsearch <"$work/es.in" >"$work/es.url" &
      es_pid=$!
      exec 8>"$work/es.in" # the fake's standard input: closing it stops the fake
      for _ in $(seq 600); do [[ -s "$work/es.url" ]] && break; sleep 0.1; done
      block="{ type: elasticsearch, urls: ['$(head -n 1 "$work/es.url")'] }"; target="" ;;
  esac
  cat >"$work/sync.yaml" <<YAML
sources:
  changelog: { type: file, path: data/users.jsonl }
sinks:
  target: $block
materializers:
  users: { source: changelog, topics: ['$topic'], sink: target, table: users, batchSize: 5000$target }
YAML
  (cd "$work" && "$root/sync" run --config sync.yaml --log-level warning >/dev/null)
  start=$(date +%s.%N)
  (cd "$work" && /usr/bin/time -f "%M %U %S" -o "$work/rss" "$root/sync" verify --config sync.yaml >"$work/verify.out") || true
  end=$(date +%s.%N)
  read -r rss user system <"$work/rss"
  echo "verify $sink: $keys keys in $(echo "$end - $start" | bc) s, client CPU $(echo "$user + $system" | bc) s, peak RSS $(( rss / 1024 )) MiB, load $(cut -d' ' -f1-3 /proc/loadavg); $(tail -1 "$work/verify.out")"
done
