#!/usr/bin/env bash
# Record sets end to end: records/s of 100 B records sent in sets of 100 into one log, on the core path (the library's
# AsyncLogWriter) and through a proxy (a write stream), against a private etcd, three `dlog bookie` processes and one
# `dlog proxy` process on loopback (E=3 Qw=3 Qa=2, fdatasync before every acknowledgement). Stops everything it started.
# Usage: scripts/bench-recordsets.sh [seconds] [sets-in-flight]   (results on stdout; copy them into docs/benchmarks.md)
#        BENCH_REPEAT=2 repeats the core/proxy pairs (runs vary a lot on a loaded machine)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
outstanding=${2:-64}
dotnet build src/DistributedLog.Cli -c Release -nologo -clp:ErrorsOnly >/dev/null
dotnet build bench/DistributedLog.Benchmarks -c Release -nologo -clp:ErrorsOnly >/dev/null
DLOG=(dotnet src/DistributedLog.Cli/bin/Release/net10.0/dlog.dll)
BENCH=(dotnet bench/DistributedLog.Benchmarks/bin/Release/net10.0/DistributedLog.Benchmarks.dll recordsets)
WORK=$(mktemp -d -p "${BENCH_DIR:-$PWD}" bench-recordsets.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

ETCD_PORT=${ETCD_PORT:-23890}
etcd --name bench --data-dir "$WORK/etcd" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 10))" --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 10))" \
  --initial-cluster "bench=http://127.0.0.1:$((ETCD_PORT + 10))" >"$WORK/etcd.log" 2>&1 &
PIDS+=($!)
META="etcd://127.0.0.1:$ETCD_PORT/bench"
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$ETCD_PORT/health" >/dev/null 2>&1 && break; sleep 0.2; done
for i in 1 2 3; do
  "${DLOG[@]}" bookie --data "$WORK/bookie-$i" --port $((ETCD_PORT + 100 + i)) --metadata "$META" --log-level Warning >"$WORK/bookie-$i.log" 2>&1 &
  PIDS+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 1 100); do grep -q ready "$WORK/bookie-$i.log" && break; sleep 0.2; done
done
PROXY_PORT=$((ETCD_PORT + 200))
"${DLOG[@]}" proxy --metadata "$META" --port "$PROXY_PORT" --admin-port -1 >"$WORK/proxy.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q ready "$WORK/proxy.log" && break; sleep 0.2; done

for _ in $(seq 1 "${BENCH_REPEAT:-1}"); do for codec in none lz4; do
  "${BENCH[@]}" core --target "$META" --seconds "$seconds" --outstanding "$outstanding" --compression "$codec"
  "${BENCH[@]}" proxy --target "http://127.0.0.1:$PROXY_PORT" --seconds "$seconds" --outstanding "$outstanding" --compression "$codec"
done; done
echo "## dlog write --count 2000000 --size 100 --batch 100 (through the proxy, process start included)"
start=$(date +%s.%N)
"${DLOG[@]}" create bench/dlog-write --endpoint "http://127.0.0.1:$PROXY_PORT" >/dev/null
"${DLOG[@]}" write bench/dlog-write --count 2000000 --size 100 --batch 100 --endpoint "http://127.0.0.1:$PROXY_PORT"
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN { printf "  %.0f records/s over %.1f s\n", 2000000 / (e - s), e - s }'
