#!/usr/bin/env bash
# The comparison of issue 11, in one go on this machine: the disk and loopback floor, a 3-member etcd cluster, a
# 3-server NATS JetStream cluster (R3 stream, file storage) and ours (3 `dlog bookie` processes + a `dlog proxy`,
# measured through the core library and through the proxy), each driven by the same closed-loop harness
# (bench/compare/Compare) with the same workloads: 64 outstanding x 100 B, 64 x 1 KiB, 1 x 100 B.
# One system runs at a time; each is stopped before the next starts. Everything binds to 127.0.0.1 only, on free
# ports below the ephemeral range.
#
# Usage: bench/compare/run.sh [--seconds S] [--warmup S] [--note TEXT] [--doc FILE] [--no-doc]
#   --seconds S   measured seconds per workload and system (default 8: the servers run for about 3.5 minutes in all,
#                 plus the build)
#   --warmup S    warm-up seconds before each measurement (default 2)
#   --note TEXT   a sentence on the conditions of the run, written into the doc (e.g. what else ran)
#   --doc FILE    the doc whose compare section is rewritten (default docs/benchmarks.md; plots go to docs/img/)
#   --no-doc      print the results only
# Installs etcd-server, nats-server and fio with apt-get when missing (as root). Server logs and results stay in
# bench/compare/work/ (data directories are deleted at the end; the next run starts afresh).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

MEASURE=8
WARMUP=2
NOTE=""
DOC=docs/benchmarks.md
WRITE_DOC=1
ARGS=""
for arg in "$@"; do
  if [[ "$arg" =~ [[:space:]] ]]; then ARGS+="${ARGS:+ }\"$arg\""; else ARGS+="${ARGS:+ }$arg"; fi
done
die() { echo "compare: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) [ $# -ge 2 ] || die "--seconds needs a value"; MEASURE=$2; shift 2 ;;
    --warmup) [ $# -ge 2 ] || die "--warmup needs a value"; WARMUP=$2; shift 2 ;;
    --note) [ $# -ge 2 ] || die "--note needs a value"; NOTE=$2; shift 2 ;;
    --doc) [ $# -ge 2 ] || die "--doc needs a value"; DOC=$2; shift 2 ;;
    --no-doc) WRITE_DOC=0; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
[[ "$MEASURE" =~ ^[0-9]+$ ]] && [ "$MEASURE" -ge 1 ] || die "--seconds must be a whole number of seconds ≥ 1"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "--warmup must be a whole number of seconds"
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')

# --- peers and tools ----------------------------------------------------------------------------------------------
missing=()
command -v etcd >/dev/null || missing+=(etcd-server)
command -v nats-server >/dev/null || missing+=(nats-server)
command -v fio >/dev/null || missing+=(fio)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "missing ${missing[*]}: run as root or install them (apt-get install -y ${missing[*]})"
  echo "installing ${missing[*]} (apt-get)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null \
    || die "apt-get install ${missing[*]} failed"
fi
command -v dotnet >/dev/null || die "dotnet (the .NET 10 SDK) is not on PATH"

echo "building dlog and the compare harness (Release)"
BUILD_LOG=$(mktemp)
for project in src/DistributedLog.Cli bench/compare/Compare; do
  nice -n 5 dotnet build "$project" -c Release -nologo -clp:ErrorsOnly >"$BUILD_LOG" 2>&1 || { tail -n 30 "$BUILD_LOG" >&2; rm -f "$BUILD_LOG"; die "build of $project failed"; }
done
rm -f "$BUILD_LOG"
DLOG=(dotnet "$ROOT/src/DistributedLog.Cli/bin/Release/net10.0/dlog.dll")
COMPARE=(dotnet "$ROOT/bench/compare/Compare/bin/Release/net10.0/Compare.dll")

WORK="$ROOT/bench/compare/work"
rm -rf "$WORK"
mkdir -p "$WORK/logs" "$WORK/data"
RESULTS="$WORK/results.jsonl"
: >"$RESULTS"

# --- processes ----------------------------------------------------------------------------------------------------
PIDS=()
NAMES=()
stop_all() {
  local i
  for i in "${!PIDS[@]}"; do kill -TERM "${PIDS[$i]}" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    local alive=0
    for i in "${!PIDS[@]}"; do kill -0 "${PIDS[$i]}" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.2
  done
  for i in "${!PIDS[@]}"; do kill -KILL "${PIDS[$i]}" 2>/dev/null || true; wait "${PIDS[$i]}" 2>/dev/null || true; done
  PIDS=(); NAMES=()
}
cleanup() { stop_all; rm -rf "$WORK/data"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME COMMAND...: runs COMMAND in the background, output to logs/NAME.log.
start() {
  local name=$1; shift
  echo "$*" >"$WORK/logs/$name.log"
  "$@" </dev/null >>"$WORK/logs/$name.log" 2>&1 &
  PIDS+=($!); NAMES+=("$name")
}
pid_of() { local i; for i in "${!NAMES[@]}"; do if [ "${NAMES[$i]}" = "$1" ]; then echo "${PIDS[$i]}"; fi; done; }

# wait_for NAME WHAT CHECK...: until CHECK succeeds; a clear error (with the log's tail) when NAME exits or 60 s pass.
wait_for() {
  local name=$1 what=$2; shift 2
  local deadline=$((SECONDS + 60)) pid
  pid=$(pid_of "$name")
  until "$@" >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 15 "$WORK/logs/$name.log" >&2
      die "$name exited while starting (log: $WORK/logs/$name.log)"
    fi
    if [ $SECONDS -ge $deadline ]; then
      tail -n 15 "$WORK/logs/$name.log" >&2
      die "$name did not become $what within 60 s (log: $WORK/logs/$name.log)"
    fi
    sleep 0.2
  done
}
http_ok() { curl -fsS --max-time 2 "$1" | grep -q "$2"; }
log_has() { grep -q -- "$2" "$WORK/logs/$1.log"; }

# bench SYSTEM [ARGS...]: one harness run; a system whose every workload failed is reported, not fatal.
BENCH_TIMEOUT=$(( (MEASURE + WARMUP + 40) * 3 + 60 ))
bench() {
  local system=$1; shift
  timeout --kill-after=10 "$BENCH_TIMEOUT" "${COMPARE[@]}" bench --system "$system" --seconds "$MEASURE" --warmup "$WARMUP" --out "$RESULTS" "$@" \
    || echo "compare: some workloads of $system failed (see the table; logs in $WORK/logs)" >&2
}

# --- 0. floor: disk and loopback ----------------------------------------------------------------------------------
FIO_SECONDS=$(( MEASURE < 10 ? MEASURE : 10 ))
FIO=(fio --name=fdatasync --directory="$WORK/data" --rw=write --bs=4k --size=64m --fdatasync=1 --runtime="$FIO_SECONDS" --time_based --output-format=json)
echo "== disk: ${FIO[*]}"
"${FIO[@]}" >"$WORK/fio.json" 2>"$WORK/logs/fio.log" || { cat "$WORK/logs/fio.log" >&2; die "fio failed"; }
rm -f "$WORK"/data/fdatasync.*
echo "== loopback round trip"
bench loopback

# --- 1. etcd, 3 members -------------------------------------------------------------------------------------------
read -r -a P <<<"$("${COMPARE[@]}" ports 6)"
CLUSTER="e1=http://127.0.0.1:${P[3]},e2=http://127.0.0.1:${P[4]},e3=http://127.0.0.1:${P[5]}"
ENDPOINTS=""
for i in 1 2 3; do
  client=${P[$((i - 1))]}; peer=${P[$((i + 2))]}
  start "etcd-$i" etcd --name "e$i" --data-dir "$WORK/data/etcd-$i" \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$CLUSTER" --initial-cluster-token compare --initial-cluster-state new
  ENDPOINTS+="${ENDPOINTS:+,}http://127.0.0.1:$client"
done
for i in 1 2 3; do wait_for "etcd-$i" healthy http_ok "http://127.0.0.1:${P[$((i - 1))]}/health" '"health":"true"'; done
echo "== etcd: 3 members ready ($ENDPOINTS)"
bench etcd --target "$ENDPOINTS"
stop_all

# --- 2. NATS JetStream, 3 servers ---------------------------------------------------------------------------------
read -r -a P <<<"$("${COMPARE[@]}" ports 9)"
ROUTES="nats-route://127.0.0.1:${P[3]}, nats-route://127.0.0.1:${P[4]}, nats-route://127.0.0.1:${P[5]}"
URLS=""
for i in 1 2 3; do
  client=${P[$((i - 1))]}; route=${P[$((i + 2))]}; http=${P[$((i + 5))]}
  mkdir -p "$WORK/data/nats-$i"
  cat >"$WORK/nats-$i.conf" <<EOF
server_name: n$i
listen: 127.0.0.1:$client
http: 127.0.0.1:$http
jetstream { store_dir: "$WORK/data/nats-$i" }
cluster { name: compare, listen: 127.0.0.1:$route, routes: [ $ROUTES ] }
EOF
  start "nats-$i" nats-server -c "$WORK/nats-$i.conf"
  URLS+="${URLS:+,}nats://127.0.0.1:$client"
done
for i in 1 2 3; do wait_for "nats-$i" "healthy (JetStream)" http_ok "http://127.0.0.1:${P[$((i + 5))]}/healthz" ok; done
echo "== NATS JetStream: 3 servers ready ($URLS)"
bench nats --target "$URLS"
stop_all

# --- 3. ours: a private metadata etcd, 3 bookies, a proxy ---------------------------------------------------------
read -r -a P <<<"$("${COMPARE[@]}" ports 7)"
start meta-etcd etcd --name meta --data-dir "$WORK/data/meta" \
  --listen-client-urls "http://127.0.0.1:${P[0]}" --advertise-client-urls "http://127.0.0.1:${P[0]}" \
  --listen-peer-urls "http://127.0.0.1:${P[1]}" --initial-advertise-peer-urls "http://127.0.0.1:${P[1]}" \
  --initial-cluster "meta=http://127.0.0.1:${P[1]}"
wait_for meta-etcd healthy http_ok "http://127.0.0.1:${P[0]}/health" '"health":"true"'
META="etcd://127.0.0.1:${P[0]}/compare"
for i in 1 2 3; do
  start "bookie-$i" "${DLOG[@]}" bookie --data "$WORK/data/bookie-$i" --host 127.0.0.1 --port "${P[$((i + 1))]}" --metadata "$META" --log-level Warning
done
for i in 1 2 3; do wait_for "bookie-$i" ready log_has "bookie-$i" " ready"; done
start proxy "${DLOG[@]}" proxy --host 127.0.0.1 --port "${P[5]}" --admin-port "${P[6]}" --metadata "$META" --log-level Warning
wait_for proxy ready log_has proxy " ready"
echo "== ours: 3 bookies and a proxy ready (metadata $META, proxy http://127.0.0.1:${P[5]})"
bench core --target "$META"
bench proxy --target "http://127.0.0.1:${P[5]}"
stop_all

# --- report -------------------------------------------------------------------------------------------------------
if [ $WRITE_DOC = 0 ]; then
  cat "$RESULTS"
  exit 0
fi
disk_source=$(df --output=source "$WORK" | tail -1)
disk="$(df --output=fstype "$WORK" | tail -1 | tr -d ' ') on $disk_source ($(df -h --output=size "$WORK" | tail -1 | tr -d ' '))"
versions="$(etcd --version | head -1 | sed 's/etcd Version: /etcd /'), nats-server $(nats-server --version | sed 's/^nats-server: //'), $(fio --version)"
commands="bench/compare/run.sh $ARGS      # $STARTED
${FIO[*]/--directory=$WORK\/data/--directory=<work>}
etcd --name eN --listen-client-urls http://127.0.0.1:<port> --initial-cluster e1=...,e2=...,e3=... ...   # x3, defaults otherwise
nats-server -c nats-N.conf   # x3: jetstream { store_dir }, cluster { routes to all three }; stream: replicas 3, file storage
dlog bookie --data <dir> --port <port> --metadata etcd://127.0.0.1:<port>/compare --log-level Warning   # x3, + a 1-member etcd for metadata
dlog proxy --port <port> --metadata etcd://127.0.0.1:<port>/compare --log-level Warning
Compare bench --system loopback|etcd|nats|core|proxy --seconds $MEASURE --warmup $WARMUP ...   # bench/compare/Compare"
"${COMPARE[@]}" report --results "$RESULTS" --fio "$WORK/fio.json" --doc "$DOC" --img-dir "$(dirname "$DOC")/img" \
  --started "$STARTED" --disk "$disk" --versions "$versions" --note "$NOTE" --commands "$commands"
echo "logs and results: $WORK"
