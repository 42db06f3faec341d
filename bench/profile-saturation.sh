#!/usr/bin/env bash
# Profiles the saturation drain of bench/Sync.Bench.EndToEnd (Pulsar fake broker -> PostgreSQL,
# one materializer) with `perf record`, attached only while the backlog drains, and prints the
# top frames by inclusive and by self share. Needs a Release build of the bench and
# SYNC_TEST_POSTGRES (run it under /work/wt/withsvc.sh or after scripts/lib/services.sh).
# Usage: bench/profile-saturation.sh OUT-DIR [bench options, e.g. --quick]
# Environment: ONLY (default saturation; latency,saturation drains a warmed process), PERF=0 to
# measure without the profiler, BENCH_DLL to run another build of the bench (an A/B comparison),
# PERF_FREQ the sampling frequency (default 999 Hz).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(mkdir -p "$1" && cd "$1" && pwd)"; shift
# Every method jitted and named in /tmp/perf-PID.map; W^X off so that perf can read the code.
[[ "${PERF:-1}" == 1 ]] && export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
cd "$root"
dll="${BENCH_DLL:-$root/artifacts/bin/Sync.Bench.EndToEnd/release/Sync.Bench.EndToEnd.dll}"
coproc BENCH { dotnet "$dll" "$@" --only "${ONLY:-saturation}" --postgres "$SYNC_TEST_POSTGRES" --json "$out/figures.json" 2>&1; }
exec {from_bench}<&"${BENCH[0]}"
bench_pid=$BENCH_PID
perf_pid=""
while IFS= read -r line <&"$from_bench"; do
  echo "$line"
  if [[ "${PERF:-1}" == 1 && "$line" =~ ^saturation:\ draining,\ pid\ ([0-9]+) ]]; then
    perf record -F "${PERF_FREQ:-999}" -g -p "${BASH_REMATCH[1]}" -o "$out/perf.data" 2>"$out/perf-record.log" &
    perf_pid=$!
  elif [[ "$line" == "saturation: drained" && -n "$perf_pid" ]]; then
    kill -INT "$perf_pid"; wait "$perf_pid" || true; perf_pid=""
  fi
done
wait "$bench_pid" || true
[[ "${PERF:-1}" == 1 ]] || exit 0
perf report -i "$out/perf.data" --children --no-demangle --sort symbol --percent-limit 1.5 --stdio -g none 2>/dev/null \
  | grep -v '^$' >"$out/inclusive.txt" || true
perf report -i "$out/perf.data" --no-children --sort dso,symbol --percent-limit 0.7 --stdio -g none 2>/dev/null \
  | grep -v '^$' >"$out/self.txt" || true
echo "profile: $out/inclusive.txt, $out/self.txt" >&2
