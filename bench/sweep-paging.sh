#!/usr/bin/env bash
# The two ways of paging a full-table sweep in PostgreSQL, timed inside the server on a throwaway
# instance: ROWS rows (default 500,000) read 5,000 at a time, first as `WHERE ctid > last ORDER BY
# ctid LIMIT 5000` pages (what `ledger verify` did), then by ranges of heap blocks sized to about
# 5,000 rows (what the `sync verify` and `ledger verify` sweeps do). Prints psql's timing of each; the
# figures go to docs/benchmarks.md by hand. Only the server's side: no client, no network.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rows="${1:-500000}"
# shellcheck source=../scripts/lib/services.sh
source "$root/scripts/lib/services.sh"
work="$(mktemp -d /tmp/sync-bench-sweep.XXXXXX)"
trap 'stop_services >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
start_services "$work" fsync=off >/dev/null
port="$(sed -E 's/.*Port=([0-9]+).*/\1/' <<<"$SYNC_TEST_POSTGRES")"
psql_() { psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAt "$@"; }
psql_ -c "CREATE TABLE t AS SELECT g AS id, 'user' || g || '@example.org' AS email FROM generate_series(1, $rows) g; ALTER TABLE t ADD PRIMARY KEY (id);"
psql_ -c "VACUUM ANALYZE t;"
psql_ <<'SQL'
\timing on
DO $$ DECLARE last tid := '(0,0)'; n int; r record; total bigint := 0; BEGIN
  LOOP
    n := 0;
    FOR r IN SELECT ctid AS c, email FROM t WHERE ctid > last ORDER BY ctid LIMIT 5000 LOOP n := n + 1; last := r.c; END LOOP;
    total := total + n;
    EXIT WHEN n < 5000;
  END LOOP;
  RAISE NOTICE 'ORDER BY ctid LIMIT pages: % rows', total;
END $$;
DO $$ DECLARE first bigint := 0; cnt bigint := 16; blocks bigint; n int; r record; total bigint := 0; BEGIN
  LOOP
    blocks := pg_relation_size('t') / current_setting('block_size')::bigint;
    n := 0;
    FOR r IN SELECT email FROM t WHERE ctid >= format('(%s,0)', first)::tid AND ctid < format('(%s,0)', first + cnt)::tid LOOP n := n + 1; END LOOP;
    total := total + n;
    first := first + cnt;
    EXIT WHEN first >= blocks;
    cnt := greatest(1, least(1048576, CASE WHEN n = 0 THEN cnt * 8 ELSE cnt * 5000 / n END));
  END LOOP;
  RAISE NOTICE 'block ranges: % rows', total;
END $$;
SQL
