#!/usr/bin/env bash
# End-to-end benchmarks of the storage tier on this machine, next to the disk's own fdatasync figure.
# Starts a private etcd and three `dlog bookie` processes on loopback, runs `dlog bench`, stops everything.
# Usage: scripts/bench.sh [seconds-per-run]   (results on stdout; copy them into docs/benchmarks.md)
#        BENCH_ONLY=log scripts/bench.sh 10   runs only the runs whose arguments contain "log" (and skips fio)
#        BENCH_REPEAT=3                        repeats the one-log / 1 000-log pair, alternating (runs vary by ±20 % here)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_RUN=${1:-10}
dotnet build src/DistributedLog.Cli -c Release -nologo -clp:ErrorsOnly >/dev/null
DLOG=(dotnet src/DistributedLog.Cli/bin/Release/net10.0/dlog.dll)
WORK=$(mktemp -d -p "${BENCH_DIR:-$PWD}" bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

echo "## machine"; nproc; uname -r; df -h "$WORK" | tail -1
if command -v fio >/dev/null && [ -z "${BENCH_ONLY:-}" ]; then
  echo "## fio --rw=write --bs=4k --fdatasync=1 (same disk as the bookies)"
  fio --name=fsync --directory="$WORK" --rw=write --bs=4k --size=64m --fdatasync=1 --runtime="$SECONDS_PER_RUN" --time_based \
    | grep -E "IOPS|sync percentiles|50.00th|99.00th" | head -8
  rm -f "$WORK"/fsync.*
fi

ETCD_PORT=23790
etcd --name bench --data-dir "$WORK/etcd" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
  --initial-cluster bench=http://127.0.0.1:23800 >"$WORK/etcd.log" 2>&1 &
PIDS+=($!)
META="etcd://127.0.0.1:$ETCD_PORT/bench"
for i in 1 2 3; do
  "${DLOG[@]}" bookie --data "$WORK/bookie-$i" --port $((3180 + i)) --metadata "$META" --log-level Warning >"$WORK/bookie-$i.log" 2>&1 &
  PIDS+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 1 100); do grep -q ready "$WORK/bookie-$i.log" && break; sleep 0.2; done
done

run() {
  if [ -n "${BENCH_ONLY:-}" ] && [[ "$*" != *"$BENCH_ONLY"* ]]; then return; fi
  echo "## dlog bench $*"; "${DLOG[@]}" bench "$@" --seconds "$SECONDS_PER_RUN"
}
run bookie --bookie 127.0.0.1:3181 --ping --outstanding 1
run bookie --bookie 127.0.0.1:3181 --outstanding 1 --size 100
run bookie --bookie 127.0.0.1:3181 --outstanding 64 --size 1024
run ledger --metadata "$META" --outstanding 1 --size 100
run ledger --metadata "$META" --outstanding 64 --size 1024
run log --metadata "$META" --outstanding 1 --size 100 --immediate-flush
run log --metadata "$META" --outstanding 256 --size 100 --logs 1000
for _ in $(seq 1 "${BENCH_REPEAT:-1}"); do
  run log --metadata "$META" --outstanding 256 --size 100
  run log --metadata "$META" --outstanding 16384 --size 100 --logs 1000
done
run log --metadata "$META" --tail --rate 10000 --size 100
run log --metadata "$META" --tail --rate 1000 --size 100 --immediate-flush
