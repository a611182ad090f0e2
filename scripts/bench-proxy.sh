#!/usr/bin/env bash
# Service-tier benchmark: a sandbox (embedded metadata, 3 bookies, one proxy in one process) driven by `dlog bench proxy`
# over one write stream and with unary calls. Besides the client's view (records/s, latency), it reports the server
# process's CPU time per record (from /proc), which is what "per-record cost on the proxy" means.
# Usage: scripts/bench-proxy.sh [seconds] [inflight]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
inflight=${2:-256}
dotnet build src/DistributedLog.Cli -c Release -v q -nologo >/dev/null
dlog="dotnet src/DistributedLog.Cli/bin/Release/net10.0/dlog.dll"
data=$(mktemp -d)
port=7190
$dlog sandbox --data "$data" --port "$port" > "$data/sandbox.out" 2>&1 &
sandbox=$!
trap 'kill $sandbox 2>/dev/null; wait $sandbox 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 60); do grep -q ready "$data/sandbox.out" 2>/dev/null && break; sleep 0.5; done
export DLOG_ENDPOINT=http://127.0.0.1:$port
ticks() { awk '{print $14+$15}' "/proc/$sandbox/stat"; }
hz=$(getconf CLK_TCK)
for mode in stream unary; do
  before=$(ticks)
  $dlog bench proxy --mode "$mode" --inflight "$inflight" --seconds "$seconds" --log "bench/$mode"
  after=$(ticks)
  records=$($dlog show "bench/$mode" --json | grep -o '"recordCount":[0-9]*' | head -1 | cut -d: -f2)
  awk -v t=$((after - before)) -v hz="$hz" -v n="$records" -v m="$mode" \
    'BEGIN { printf "  server (sandbox process) CPU: %.1f µs per record over %d records (%s)\n", t / hz * 1e6 / n, n, m }'
done
