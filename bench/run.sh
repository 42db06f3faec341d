#!/usr/bin/env bash
# Runs every benchmark in Release against throwaway PostgreSQL and Redis (as scripts/test.sh starts
# them, but with durable settings), and writes bench/results.json and the "Latest run" table of
# docs/benchmarks.md. --quick: smaller workloads, for a smoke check in a few minutes. A local Redis
# Cluster (three primaries with a replica each, scripts/lib/redis-cluster.sh) is started too, for the
# Redis Cluster figures (RedisClusterBench); when it cannot start, those figures are left out, said so.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
quick=""
[[ "${1:-}" == "--quick" ]] && quick="--quick"

# shellcheck source=../scripts/lib/services.sh
source "$root/scripts/lib/services.sh"
work="$(mktemp -d /tmp/sync-bench.XXXXXX)"
cleanup() { stop_redis_cluster; stop_services; rm -rf "$work"; }
trap cleanup EXIT
start_services "$work" shared_buffers=512MB
cluster=()
if start_redis_cluster "$work"; then
  cluster=(--redis-cluster "$SYNC_TEST_REDIS_CLUSTER")
else
  echo "bench: the Redis Cluster did not start: its figures are left out of this run" >&2
fi

echo "bench: building in Release" >&2
dotnet build bench/Sync.Bench -c Release --nologo -v quiet -clp:ErrorsOnly
echo "bench: core, PostgreSQL, Redis and Redis Cluster figures" >&2
dotnet run --no-build -c Release --project bench/Sync.Bench -- $quick \
  --postgres "$SYNC_TEST_POSTGRES" --redis "$SYNC_TEST_REDIS" "${cluster[@]}" --ledger --json "$work/core.json"
pulsar="$work/pulsar.json"
echo '[]' >"$pulsar"
if [[ -f bench/Sync.Bench.Pulsar/Sync.Bench.Pulsar.csproj ]]; then
  echo "bench: Pulsar client against pulsar-flex" >&2
  dotnet build bench/Sync.Bench.Pulsar -c Release --nologo -v quiet -clp:ErrorsOnly
  dotnet run --no-build -c Release --project bench/Sync.Bench.Pulsar -- $quick --json "$pulsar"
fi

endtoend="$work/endtoend.json"
echo "bench: end to end latency, saturation (CPU and bytes per event), footprint, start-up, Elasticsearch client cost, scale, scale with a latency-bound sink" >&2
dotnet build bench/Sync.Bench.EndToEnd -c Release --nologo -v quiet -clp:ErrorsOnly
dotnet run --no-build -c Release --project bench/Sync.Bench.EndToEnd -- $quick \
  --postgres "$SYNC_TEST_POSTGRES" --json "$endtoend"

micro="$work/micro"
mkdir -p "$micro"
if [[ -z "$quick" ]]; then
  echo "bench: micro-benchmarks (BenchmarkDotNet: decode, collapse, frame codec)" >&2
  dotnet build bench/Sync.Bench.Micro -c Release --nologo -v quiet -clp:ErrorsOnly
  dotnet run --no-build -c Release --project bench/Sync.Bench.Micro -- --artifacts "$micro/BenchmarkDotNet.Artifacts" >/dev/null
fi

commit="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src bench || echo '+changes')"
machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), .NET $(dotnet --version)"
date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
size="full size"
[[ -n "$quick" ]] && size="--quick (smaller workloads)"
python3 - "$work/core.json" "$pulsar" "$endtoend" "$machine" "$commit" "$date" "$micro" "$size" <<'PY'
import json, sys
import glob, os
core, pulsar, endtoend, machine, commit, date, micro, size = sys.argv[1:9]
results = json.load(open(core)) + json.load(open(pulsar)) + json.load(open(endtoend))
json.dump({"machine": machine, "commit": commit, "date": date, "results": results}, open("bench/results.json", "w"), indent=2)
rows = ["| figure | value | unit | limit | limit value | ratio | goal |", "| --- | ---: | --- | --- | ---: | ---: | --- |"]
for r in results:
    limit = f"{r['limit']:,.0f}" if r.get("limit") is not None else "-"
    ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else "-"
    goal = f">= {r['goal_ratio']}x" if r.get("goal_ratio") is not None else (r.get("goal") or "-")
    value = f"{r['value']:,.1f}" if r['value'] < 100 else f"{r['value']:,.0f}"
    rows.append(f"| {r['name']} | {value} | {r['unit']} | {r.get('limit_name') or '-'} | {limit} | {ratio} | {goal} |")
import re
def goal_met(r):
    # A ratio goal, or a goal written as "<= 50 ms", "< 5,000 ms", ">= 3x".
    if r.get("goal_ratio") is not None:
        return r.get("ratio") is not None and r["ratio"] >= r["goal_ratio"], f">= {r['goal_ratio']}x of {r.get('limit_name')}", r.get("ratio")
    m = re.match(r"^\s*(<=|<|>=|>)\s*([\d,.]+)", r.get("goal") or "")
    if not m:
        return None, None, None
    bound = float(m.group(2).replace(",", ""))
    met = {"<=": r["value"] <= bound, "<": r["value"] < bound, ">=": r["value"] >= bound, ">": r["value"] > bound}[m.group(1)]
    return met, r["goal"], r["value"]
goals = ["| figure | measured | goal | met |", "| --- | ---: | --- | --- |"]
for r in results:
    met, goal, measured = goal_met(r)
    if met is None:
        continue
    shown = f"{measured:.2f}x" if r.get("goal_ratio") is not None else (f"{measured:,.1f} {r['unit']}" if measured < 100 else f"{measured:,.0f} {r['unit']}")
    goals.append(f"| {r['name']} ({r['unit']}) | {shown} | {goal} | {'yes' if met else '**no**'} |")
section = (f"<!-- latest-run:begin -->\n## Latest run of bench/run.sh\n\nMachine: {machine}. Commit {commit}, {date}, {size}.\n\n"
    + "Goals at a glance (every figure that has one; the table below has them all):\n\n" + "\n".join(goals) + "\n\n"
    + "\n".join(rows) + "\n<!-- latest-run:end -->")
doc = open("docs/benchmarks.md").read()
if "<!-- latest-run:begin -->" in doc:
    start = doc.index("<!-- latest-run:begin -->"); end = doc.index("<!-- latest-run:end -->") + len("<!-- latest-run:end -->")
    doc = doc[:start] + section + doc[end:]
else:
    marker = "\n## "
    at = doc.index(marker)
    doc = doc[:at] + "\n\n" + section + "\n" + doc[at:]
tables = sorted(glob.glob(os.path.join(micro, "BenchmarkDotNet.Artifacts", "results", "*-report-github.md")))
if tables:
    body = []
    for t in tables:
        lines = [l for l in open(t).read().splitlines() if l.startswith("|")]
        body.append("### " + os.path.basename(t).split("-report")[0].split(".")[-1] + "\n\n" + "\n".join(lines))
    micro_section = f"<!-- micro:begin -->\n## Micro-benchmarks (BenchmarkDotNet, ShortRun)\n\nMachine: {machine}. Commit {commit}, {date}.\n\n" + "\n\n".join(body) + "\n<!-- micro:end -->"
    if "<!-- micro:begin -->" in doc:
        start = doc.index("<!-- micro:begin -->"); end = doc.index("<!-- micro:end -->") + len("<!-- micro:end -->")
        doc = doc[:start] + micro_section + doc[end:]
    else:
        end = doc.index("<!-- latest-run:end -->") + len("<!-- latest-run:end -->")
        doc = doc[:end] + "\n\n" + micro_section + doc[end:]
open("docs/benchmarks.md", "w").write(doc)
print("bench: wrote bench/results.json and docs/benchmarks.md", file=sys.stderr)
PY
