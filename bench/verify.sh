#!/usr/bin/env bash
# sync verify at scale: KEYS keys (default 1,000,000) materialized from a changelog file into
# PostgreSQL and Redis by `sync run`, then `sync verify` timed, with its peak RSS (GNU time's
# "Maximum resident set size"). Prints one line per sink; the figures go to docs/benchmarks.md by hand.
# Goals (issue 20): PostgreSQL < 60 s, Redis < 120 s, memory flat in the number of keys.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
keys="${1:-1000000}"
sinks="${SINKS:-postgres redis}"

# shellcheck source=../scripts/lib/services.sh
source "$root/scripts/lib/services.sh"
work="$(mktemp -d /tmp/sync-bench-verify.XXXXXX)"
cleanup() { stop_services; rm -rf "$work"; }
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
  (cd "$work" && /usr/bin/time -f "%M" -o "$work/rss" "$root/sync" verify --config sync.yaml >"$work/verify.out") || true
  end=$(date +%s.%N)
  echo "verify $sink: $keys keys in $(echo "$end - $start" | bc) s, peak RSS $(( $(cat "$work/rss") / 1024 )) MiB; $(tail -1 "$work/verify.out")"
done
