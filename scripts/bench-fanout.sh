#!/usr/bin/env bash
# Read fan-out benchmark: a sandbox (embedded metadata, 3 bookies, one proxy in one process) and the fan-out harness
# (bench/DistributedLog.Benchmarks `fanout`): K tailing gRPC readers of one log, each on its own connection, while one
# write stream writes R records/s. Prints write-to-read latency over all readers and bookie reads per record written.
# Usage: scripts/bench-fanout.sh [seconds] [rate] [readers...]   (DLOG_DLL=path/to/dlog.dll to measure another build)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
rate=${2:-2000}
shift $(( $# > 2 ? 2 : $# )) || true
readers=("$@")
[ ${#readers[@]} -gt 0 ] || readers=(1 10 30 100 200)
if [ -z "${DLOG_DLL:-}" ]; then
  dotnet build src/DistributedLog.Cli -c Release -v q -nologo >/dev/null
  DLOG_DLL=src/DistributedLog.Cli/bin/Release/net10.0/dlog.dll
fi
dotnet build bench/DistributedLog.Benchmarks -c Release -v q -nologo >/dev/null
harness="dotnet bench/DistributedLog.Benchmarks/bin/Release/net10.0/DistributedLog.Benchmarks.dll fanout"
data=$(mktemp -d)
port=${FANOUT_PORT:-7290}
dotnet "$DLOG_DLL" sandbox --data "$data" --port "$port" --json > "$data/sandbox.out" 2>&1 &
sandbox=$!
trap 'kill $sandbox 2>/dev/null; wait $sandbox 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 120); do grep -q metrics "$data/sandbox.out" 2>/dev/null && break; sleep 0.5; done
metrics=$(grep -o '"metrics":"[^"]*"' "$data/sandbox.out" | head -1 | cut -d'"' -f4)
for k in "${readers[@]}"; do
  $harness --endpoint "http://127.0.0.1:$port" --metrics "$metrics" --readers "$k" --rate "$rate" --seconds "$seconds" --log "fanout/$k" || true
done
