#!/usr/bin/env bash
# A DistributedLog cluster on loopback, every role its own process: etcd, `dlog bookie` x3 and `dlog proxy` x2.
#
# Usage: scripts/cluster.sh up|down|status [options]
#   up       build dlog once (dotnet build -c Release; skipped when DLOG_DLL names a built dlog.dll), start whatever is
#            not running, wait until each process printed its ready line, print the proxies' endpoints
#   down     SIGTERM every process (proxies, then bookies, then etcd), SIGKILL what is still there after --timeout
#            seconds; the data stays, so the next `up` restarts the same cluster (`down --wipe` deletes it too)
#   status   each process, its pid and whether it runs; exit code 0 only when all run
# Options (`up` remembers them in DIR/cluster.env; later commands on the same DIR use what was remembered):
#   --dir DIR          state directory: pids, logs, data (default ./dlog-cluster, or $DLOG_CLUSTER_DIR)
#   --base-port N      etcd on N (peer N+1), bookies on N+2..., proxies after them
#                      (default: etcd 2379/2380, bookies 3181..., proxies 7000...)
#   --bookies N        number of bookies (default 3)
#   --proxies N        number of proxies (default 2)
#   --timeout S        seconds to wait for a ready line, or for an exit after SIGTERM (default 60)
# Environment: DLOG_DLL (a built dlog.dll to run instead of building), BOOKIE_ARGS and PROXY_ARGS (extra arguments).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COMMAND=${1:-}
[ $# -gt 0 ] && shift

DIR=${DLOG_CLUSTER_DIR:-./dlog-cluster}
BASE_PORT=""
BOOKIES=""
PROXIES=""
TIMEOUT=60
WIPE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR=$2; shift 2 ;;
    --base-port) BASE_PORT=$2; shift 2 ;;
    --bookies) BOOKIES=$2; shift 2 ;;
    --proxies) PROXIES=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --wipe) WIPE=1; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "cluster.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done

die() { echo "cluster.sh: $*" >&2; exit 1; }
is_number() { [[ "$1" =~ ^[0-9]+$ ]]; }

if [ ! -d "$DIR" ]; then
  case "$COMMAND" in
    down) echo "no cluster in $DIR"; exit 0 ;;
    status) echo "no cluster in $DIR"; exit 1 ;;
  esac
fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
CONFIG="$DIR/cluster.env"

# The layout: remembered at the first `up` (bookie ids are their addresses, so ports must not change on the same data).
if [ -f "$CONFIG" ]; then
  # shellcheck source=/dev/null
  source "$CONFIG"
  [ -z "$BASE_PORT" ] || [ "$BASE_PORT" = "$SAVED_BASE_PORT" ] || die "$DIR was created with --base-port ${SAVED_BASE_PORT:-(default)}; use that or another --dir"
  [ -z "$BOOKIES" ] || [ "$BOOKIES" = "$SAVED_BOOKIES" ] || die "$DIR was created with --bookies $SAVED_BOOKIES; use that or another --dir"
  [ -z "$PROXIES" ] || [ "$PROXIES" = "$SAVED_PROXIES" ] || die "$DIR was created with --proxies $SAVED_PROXIES; use that or another --dir"
  BASE_PORT=$SAVED_BASE_PORT; BOOKIES=$SAVED_BOOKIES; PROXIES=$SAVED_PROXIES
else
  BOOKIES=${BOOKIES:-3}; PROXIES=${PROXIES:-2}
fi
{ [ -z "$BASE_PORT" ] || is_number "$BASE_PORT"; } || die "--base-port must be a number"
is_number "$BOOKIES" && [ "$BOOKIES" -ge 1 ] || die "--bookies must be at least 1"
is_number "$PROXIES" && [ "$PROXIES" -ge 1 ] || die "--proxies must be at least 1"
is_number "$TIMEOUT" || die "--timeout must be a number of seconds"

if [ -n "$BASE_PORT" ]; then
  ETCD_PORT=$BASE_PORT; ETCD_PEER_PORT=$((BASE_PORT + 1))
  BOOKIE_BASE=$((BASE_PORT + 2)); PROXY_BASE=$((BASE_PORT + 2 + BOOKIES))
else
  ETCD_PORT=2379; ETCD_PEER_PORT=2380; BOOKIE_BASE=3181; PROXY_BASE=7000
fi
METADATA="etcd://127.0.0.1:$ETCD_PORT/dlog"

# Every process: name, pid file, log file; `running NAME` checks the pid is alive and still that process (its port is
# on its command line), not an unrelated process that got the pid of one that died.
NAMES=(etcd)
declare -A ENDPOINT_PORT
for ((i = 1; i <= BOOKIES; i++)); do NAMES+=("bookie-$i"); ENDPOINT_PORT["bookie-$i"]=$((BOOKIE_BASE + i - 1)); done
for ((i = 1; i <= PROXIES; i++)); do NAMES+=("proxy-$i"); ENDPOINT_PORT["proxy-$i"]=$((PROXY_BASE + i - 1)); done
pid_of() { cat "$DIR/$1.pid" 2>/dev/null || true; }
running() {
  local pid marker; pid=$(pid_of "$1")
  case "$1" in
    etcd) marker="127.0.0.1:$ETCD_PORT " ;;
    *) marker="--port ${ENDPOINT_PORT[$1]} " ;;
  esac
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q -- "$marker"
}
endpoint_of() {
  case "$1" in
    etcd) echo "http://127.0.0.1:$ETCD_PORT" ;;
    bookie-*) echo "127.0.0.1:${ENDPOINT_PORT[$1]}" ;;
    proxy-*) echo "http://127.0.0.1:${ENDPOINT_PORT[$1]}" ;;
  esac
}

# Starts NAME (the rest is its command line) in the background, detached from this shell, output to DIR/NAME.log.
launch() {
  local name=$1; shift
  echo "--- $(date '+%F %T') $*" >>"$DIR/$name.log"
  setsid "$@" </dev/null >>"$DIR/$name.log" 2>&1 &
  echo $! >"$DIR/$name.pid"
}

# Waits until NAME's log (after its last start) has a line matching PATTERN, or fails with the log's tail.
wait_ready() {
  local name=$1 pattern=$2 deadline=$((SECONDS + TIMEOUT))
  while true; do
    if sed -n '/^--- /h; /^--- /!H; ${x;p}' "$DIR/$name.log" | grep -q -- "$pattern"; then return 0; fi
    running "$name" || { tail -n 20 "$DIR/$name.log" >&2; die "$name exited while starting (log: $DIR/$name.log)"; }
    [ $SECONDS -lt $deadline ] || { tail -n 20 "$DIR/$name.log" >&2; die "$name not ready within $TIMEOUT s (log: $DIR/$name.log)"; }
    sleep 0.2
  done
}

# etcd's /health, with curl or, without it, bash's /dev/tcp.
etcd_healthy() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health" 2>/dev/null
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$ETCD_PORT" && printf 'GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 && timeout 2 cat <&3) 2>/dev/null
  fi | grep -q '"health":"true"'
}

wait_etcd() {
  local deadline=$((SECONDS + TIMEOUT))
  until etcd_healthy; do
    running etcd || { tail -n 20 "$DIR/etcd.log" >&2; die "etcd exited while starting (log: $DIR/etcd.log)"; }
    [ $SECONDS -lt $deadline ] || { tail -n 20 "$DIR/etcd.log" >&2; die "etcd not healthy within $TIMEOUT s (log: $DIR/etcd.log)"; }
    sleep 0.2
  done
}

dlog_command() {
  if [ -n "${DLOG_DLL:-}" ]; then
    [ -f "$DLOG_DLL" ] || die "DLOG_DLL=$DLOG_DLL does not exist"
    DLOG=(dotnet "$DLOG_DLL")
  else
    echo "building dlog (dotnet build -c Release)"
    dotnet build "$ROOT/src/DistributedLog.Cli" -c Release -nologo -clp:ErrorsOnly >"$DIR/build.log" 2>&1 \
      || { tail -n 30 "$DIR/build.log" >&2; die "build failed (log: $DIR/build.log)"; }
    DLOG=(dotnet "$ROOT/src/DistributedLog.Cli/bin/Release/net10.0/dlog.dll")
  fi
}

up() {
  command -v etcd >/dev/null 2>&1 || die "etcd is not installed (Debian: apt-get install etcd-server)"
  [ -f "$CONFIG" ] || printf 'SAVED_BASE_PORT=%s\nSAVED_BOOKIES=%s\nSAVED_PROXIES=%s\n' "$BASE_PORT" "$BOOKIES" "$PROXIES" >"$CONFIG"
  dlog_command

  if ! running etcd; then
    mkdir -p "$DIR/etcd"
    launch etcd etcd --name dlog --data-dir "$DIR/etcd" \
      --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
      --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
      --initial-cluster "dlog=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new --logger zap --log-outputs stderr
  fi
  wait_etcd
  echo "etcd      $(endpoint_of etcd) ready (pid $(pid_of etcd))"

  local name started=()
  for ((i = 1; i <= BOOKIES; i++)); do
    name="bookie-$i"
    if ! running "$name"; then
      # shellcheck disable=SC2086
      launch "$name" "${DLOG[@]}" bookie --data "$DIR/$name" --port "${ENDPOINT_PORT[$name]}" --metadata "$METADATA" ${BOOKIE_ARGS:-}
      started+=("$name")
    fi
  done
  for name in "${started[@]}"; do wait_ready "$name" " ready"; done
  for ((i = 1; i <= BOOKIES; i++)); do echo "bookie-$i  $(endpoint_of "bookie-$i") ready (pid $(pid_of "bookie-$i"))"; done

  started=()
  for ((i = 1; i <= PROXIES; i++)); do
    name="proxy-$i"
    if ! running "$name"; then
      # shellcheck disable=SC2086
      launch "$name" "${DLOG[@]}" proxy --port "${ENDPOINT_PORT[$name]}" --metadata "$METADATA" ${PROXY_ARGS:-}
      started+=("$name")
    fi
  done
  for name in "${started[@]}"; do wait_ready "$name" " ready"; done
  : >"$DIR/endpoints"
  for ((i = 1; i <= PROXIES; i++)); do
    echo "proxy-$i   $(endpoint_of "proxy-$i") ready (pid $(pid_of "proxy-$i"))"
    endpoint_of "proxy-$i" >>"$DIR/endpoints"
  done
  echo "cluster up: metadata $METADATA, state in $DIR"
  echo "try: export DLOG_ENDPOINT=$(endpoint_of proxy-1)"
}

# SIGTERM to the given processes, wait for them, SIGKILL the ones left after the timeout.
stop_all() {
  local name pid deadline left=()
  for name in "$@"; do
    if running "$name"; then kill -TERM "$(pid_of "$name")" 2>/dev/null || true; left+=("$name"); fi
  done
  deadline=$((SECONDS + TIMEOUT))
  for name in "${left[@]}"; do
    pid=$(pid_of "$name")
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
      echo "$name (pid $pid) killed: no exit within $TIMEOUT s of SIGTERM"
    else
      echo "$name (pid $pid) stopped"
    fi
    rm -f "$DIR/$name.pid"
  done
}

down() {
  local proxies=() bookies=() name
  for name in "${NAMES[@]}"; do
    case "$name" in proxy-*) proxies+=("$name") ;; bookie-*) bookies+=("$name") ;; esac
  done
  stop_all "${proxies[@]}"
  stop_all "${bookies[@]}"
  stop_all etcd
  rm -f "$DIR"/*.pid "$DIR/endpoints"
  if [ "$WIPE" = 1 ]; then
    rm -rf "$DIR"
    echo "cluster down, $DIR deleted"
  else
    echo "cluster down (data kept in $DIR)"
  fi
}

status() {
  local all=0 name
  for name in "${NAMES[@]}"; do
    if running "$name"; then
      printf '%-9s %-24s running (pid %s)\n' "$name" "$(endpoint_of "$name")" "$(pid_of "$name")"
    else
      printf '%-9s %-24s stopped\n' "$name" "$(endpoint_of "$name")"
      all=1
    fi
  done
  return $all
}

case "$COMMAND" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: scripts/cluster.sh up|down|status [--dir DIR] [--base-port N] [--bookies N] [--proxies N] [--timeout S] [--wipe]" >&2; exit 2 ;;
esac
