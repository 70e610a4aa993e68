#!/usr/bin/env bash
# The server's own cost, apart from the client's (issue 14): loacld release driven by
# bench/loadgen (a C load generator speaking the LOACL wire), which reads the server's CPU time
# (utime + stime of all its threads, /proc/PID/stat) over the measured window.
# Prints, per case: calls/s, p50/p99 µs, server CPU µs per call, the server's CPU use, the
# load generator's own CPU µs per call; then RSS per idle connection; then (if h2load is
# installed) server CPU µs per call for loacld's gRPC listener under h2load.
# Mode unary: pipelined unary echo calls. Mode streaming: the same number of bidirectional
# streams, each ping-ponging one message at a time (a "call" is one echoed message).
#
#   bench/server-cpu.sh [--no-build] [--duration S] [--repeat R] [--cases "1x64 8x64 64x64 1x1"]
#                       [--modes "unary streaming"] [--transports "tcp unix"] [--idle K] [--no-grpc]
# Environment: LOACL_BINDIR (a folder with a prebuilt loacld; implies --no-build),
# LOACL_SCRATCH (build folder, default .build-bench-perf; the build links the Swift runtime
# statically, `--static-swift-stdlib`, as bench/run.sh does), WARMUP (0.5), PAYLOAD (64),
# PORT_BASE (24471: tcp 24471, grpc 24472, idle 24475), IDLE_POLL=0 (let idle vCPUs halt),
# IDLE_HOLD (5: seconds the idle connections are held while the server's CPU use is read).
# Cases are CONNECTIONSxIN_FLIGHT (in flight per connection). --idle 0 skips the idle case.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
DURATION="${DURATION:-5}" WARMUP="${WARMUP:-0.5}" PAYLOAD="${PAYLOAD:-64}" REPEAT="${REPEAT:-1}"
CASES="${CASES:-1x64 8x64 64x64 1x1}" MODES="${MODES:-unary streaming}" TRANSPORTS="${TRANSPORTS:-tcp unix}" IDLE="${IDLE:-20000}"
GRPC="${GRPC:-1}" NO_BUILD="${NO_BUILD:-0}" IDLE_HOLD="${IDLE_HOLD:-5}"
LOACL_SCRATCH="${LOACL_SCRATCH:-$REPO_DIR/.build-bench-perf}"
LOACL_BINDIR="${LOACL_BINDIR:-}"
PORT_BASE="${PORT_BASE:-24471}"
TCP_PORT="$PORT_BASE" GRPC_PORT="$((PORT_BASE + 1))" IDLE_PORT="$((PORT_BASE + 4))"

usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) NO_BUILD=1; shift ;;
    --duration) DURATION="$2"; shift 2 ;;
    --repeat) REPEAT="$2"; shift 2 ;;
    --cases) CASES="$2"; shift 2 ;;
    --modes) MODES="$2"; shift 2 ;;
    --transports) TRANSPORTS="$2"; shift 2 ;;
    --idle) IDLE="$2"; shift 2 ;;
    --no-grpc) GRPC=0; shift ;;
    -h|--help) usage 0 ;;
    *) echo "server-cpu.sh: unknown argument $1" >&2; usage 2 ;;
  esac
done

log() { echo "[server-cpu] $*" >&2; }
make -s -C "$BENCH_DIR/loadgen" >&2
LOADGEN="$BENCH_DIR/loadgen/loadgen"
if [ -n "$LOACL_BINDIR" ]; then
  BINDIR="$LOACL_BINDIR"
else
  if [ "$NO_BUILD" != 1 ]; then
    log "building loacld (release, scratch $LOACL_SCRATCH)"
    (cd "$REPO_DIR" && swift build -c release --scratch-path "$LOACL_SCRATCH" --static-swift-stdlib --product loacld >&2)
  fi
  BINDIR="$(cd "$REPO_DIR" && swift build -c release --scratch-path "$LOACL_SCRATCH" --static-swift-stdlib --show-bin-path)"
fi
LOACLD="$BINDIR/loacld"
[ -x "$LOACLD" ] || { echo "server-cpu.sh: no loacld at $LOACLD" >&2; exit 1; }

# Descriptors for the idle case: the server and the load generator inherit this. Where the hard
# limit cannot be raised (a container without CAP_SYS_RESOURCE: 20,000 here), the idle case
# opens at most that limit less 100 (the server's own descriptors).
ulimit -n "$(( IDLE + 1024 ))" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "$IDLE" -gt "$(( $(ulimit -n) - 100 ))" ]; then
  log "open-file limit $(ulimit -n): idle case reduced from $IDLE to $(( $(ulimit -n) - 100 )) connections"
  IDLE="$(( $(ulimit -n) - 100 ))"
fi

WORK="$(mktemp -d /tmp/loacl-server-cpu.XXXXXX)"
SERVER_PID=""
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
trap 'stop_server; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

# start_server LISTEN READY(tcp:PORT|unix:PATH) — loacld with the benchmark service, quiet log.
start_server() {
  "$LOACLD" serve --listen "$1" --max-connections "$(( IDLE + 1024 ))" --log-level error \
    >"$WORK/loacld.log" 2>&1 &
  SERVER_PID=$!
  local where="$2"
  for _ in $(seq 1 200); do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/loacld.log" >&2; echo "server-cpu.sh: loacld exited" >&2; exit 1; }
    case "$where" in
      tcp:*) [ -n "$(ss -Htln "sport = :${where#tcp:}" 2>/dev/null)" ] && return 0 ;;
      unix:*) [ -S "${where#unix:}" ] && return 0 ;;
    esac
    sleep 0.1
  done
  echo "server-cpu.sh: loacld not listening on $where" >&2; exit 1
}

source "$BENCH_DIR/idle-poll.sh"
hold_idle_poll

field() { tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k { print $2 }'; }
ROWS=()
echo "loacld $LOACLD; payload ${PAYLOAD}B, ${DURATION}s (+${WARMUP}s warmup) per case, $IDLE_STATE, $(nproc) cores, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
for transport in $TRANSPORTS; do
  case "$transport" in
    tcp) listen="tcp:127.0.0.1:$TCP_PORT" ready="tcp:$TCP_PORT" target=(--port "$TCP_PORT") ;;
    unix) listen="unix:$WORK/loacl.sock" ready="unix:$WORK/loacl.sock" target=(--unix "$WORK/loacl.sock") ;;
    *) echo "server-cpu.sh: transport tcp or unix" >&2; exit 2 ;;
  esac
  start_server "$listen" "$ready"
  for mode in $MODES; do
    for case in $CASES; do
      conns="${case%x*}" inflight="${case#*x}"
      for r in $(seq 1 "$REPEAT"); do
        line="$("$LOADGEN" "${target[@]}" --mode "$mode" --connections "$conns" --in-flight "$inflight" \
          --payload "$PAYLOAD" --duration "$DURATION" --warmup "$WARMUP" --server-pid "$SERVER_PID" \
          2>"$WORK/loadgen.err")" || {
          sed 's/^/  loadgen: /' "$WORK/loadgen.err" >&2; log "$transport $mode $case: loadgen failed"; }
        log "$transport $mode ${conns}x$inflight #$r: $line"
        ROWS+=("$transport $mode ${conns}x$inflight $r $(cut -d' ' -f1-3 /proc/loadavg | cut -d' ' -f1) $line")
      done
    done
  done
  stop_server
done

printf '\n%-9s %-9s %-8s %-3s %5s %10s %9s %9s %14s %9s %14s\n' transport mode conns×n "#" load calls/s p50_us p99_us server_us/call server% client_us/call
for row in "${ROWS[@]}"; do
  read -r t m c r l rest <<<"$row"
  printf '%-9s %-9s %-8s %-3s %5s %10s %9s %9s %14s %9s %14s\n' "$t" "$m" "$c" "$r" "$l" \
    "$(field calls_per_sec "$rest")" "$(field p50_us "$rest")" "$(field p99_us "$rest")" \
    "$(field server_cpu_us_per_call "$rest")" "$(field server_cpu_pct "$rest")" "$(field client_cpu_us_per_call "$rest")"
done

if [ "$IDLE" -gt 0 ]; then
  start_server "tcp:127.0.0.1:$IDLE_PORT" "tcp:$IDLE_PORT"
  sleep 0.5
  line="$("$LOADGEN" --port "$IDLE_PORT" --idle "$IDLE" --server-pid "$SERVER_PID" --warmup 2 --duration "$IDLE_HOLD" \
    2>"$WORK/idle.err")" || { sed 's/^/  loadgen: /' "$WORK/idle.err" >&2; log "idle case failed"; }
  stop_server
  echo
  echo "idle (tcp): $line"
fi

if [ "$GRPC" = 1 ] && command -v h2load >/dev/null; then
  # h2load: fixed gRPC body (BenchmarkRequest{payload: PAYLOAD × 'a'}), one connection; server CPU
  # over the whole h2load run / requests succeeded.
  python3 - "$WORK/grpc.body" "$PAYLOAD" <<'PY'
import struct, sys
n = int(sys.argv[2]); msg = (b"\x0a" + bytes([n]) + b"a" * n) if 0 < n < 128 else b""
open(sys.argv[1], "wb").write(b"\x00" + struct.pack(">I", len(msg)) + msg)
PY
  echo
  start_server "grpc:127.0.0.1:$GRPC_PORT" "tcp:$GRPC_PORT"
  for inflight in 64 1; do
    for r in $(seq 1 "$REPEAT"); do
      before="$(awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat")"
      h2load -c 1 -m "$inflight" -D "$DURATION" -H "content-type: application/grpc" -H "te: trailers" \
        -d "$WORK/grpc.body" "http://127.0.0.1:$GRPC_PORT/loacl.v1.BenchmarkService/UnaryCall" >"$WORK/h2load.out" 2>&1 || true
      after="$(awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat")"
      ok="$(awk '/^requests:/ { for (i = 1; i <= NF; i++) if ($(i+1) ~ /^succeeded/) print $i }' "$WORK/h2load.out")"
      awk -v b="$before" -v a="$after" -v ok="${ok:-0}" -v d="$DURATION" -v n="$inflight" -v hz="$(getconf CLK_TCK)" 'BEGIN {
        printf "grpc (h2load) 1x%-3s calls_per_sec=%d server_cpu_us_per_call=%.2f server_cpu_pct=%.0f\n",
          n, ok / d, (ok > 0 ? (a - b) * 1e6 / hz / ok : 0), (a - b) * 100 / hz / d }'
    done
  done
  stop_server
fi
