#!/usr/bin/env bash
# LOACL RPC benchmark: LOACL against a raw C echo (the physical floor) and grpc-swift-2.
# Builds what is needed (release), starts each server on 127.0.0.1 (or a Unix socket in a
# private temp dir), runs its load client for a fixed time, stops the server, then prints a
# table, the servers' peak RSS and the ratios LOACL is judged by. Loopback traffic only.
#
#   bench/run.sh [--duration S] [--warmup S] [--payload B] [--concurrency N] [--connections C]
#                [--systems "raw grpc loacl"] [--modes "unary streaming"] [--no-build]
#                [--loacl auto|yes|no] [--allow-idle] [--stdlib static|shared]
# The same settings can come from the environment: DURATION WARMUP PAYLOAD CONCURRENCY
# CONNECTIONS SYSTEMS MODES NO_BUILD=1 LOACL IDLE_POLL=0 STDLIB. Every step is bounded by `timeout`.
# Both Swift servers and clients (grpc-swift-2's and LOACL's) are built the same way: with the
# Swift standard library and runtime linked statically by default (`--static-swift-stdlib`, as
# for deployment), or as shared libraries with --stdlib shared (each way has its own build folder).
# While measuring, the script holds /dev/cpu_dma_latency at 0 (released when it exits) so idle
# vCPUs poll instead of halting: on this KVM guest a halted vCPU takes ~60 µs to wake, which
# otherwise swamps loopback latency (raw echo 4x slower). --allow-idle measures without it.
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"

DURATION="${DURATION:-5}"
WARMUP="${WARMUP:-0.5}"
PAYLOAD="${PAYLOAD:-64}"
CONCURRENCY="${CONCURRENCY:-64}"
CONNECTIONS="${CONNECTIONS:-1}"
SYSTEMS="${SYSTEMS:-raw grpc loacl}"
MODES="${MODES:-unary streaming}"
NO_BUILD="${NO_BUILD:-0}"
LOACL="${LOACL:-auto}"                   # auto: run LOACL if the main package can build it
LOACL_SCRATCH="${LOACL_SCRATCH:-}"       # default: .build-bench (static stdlib), .build-bench-shared
LOACL_BINDIR="${LOACL_BINDIR:-}"         # prebuilt loacld + loacl-bench to run instead (with --no-build; for A/B runs)
LOACLD_ARGS="${LOACLD_ARGS:-}"           # extra loacld flags (database, config, …)
BUILD_TIMEOUT="${BUILD_TIMEOUT:-3600}"   # seconds; the first grpc-swift-2 build is long
SERVER_START_TIMEOUT="${SERVER_START_TIMEOUT:-60}"
IDLE_POLL="${IDLE_POLL:-1}"              # hold /dev/cpu_dma_latency at 0 while measuring
STDLIB="${STDLIB:-static}"               # static: --static-swift-stdlib; shared: the toolchain's .so files

usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --payload) PAYLOAD="$2"; shift 2 ;;
    --concurrency) CONCURRENCY="$2"; shift 2 ;;
    --connections) CONNECTIONS="$2"; shift 2 ;;
    --systems) SYSTEMS="$2"; shift 2 ;;
    --modes) MODES="$2"; shift 2 ;;
    --no-build) NO_BUILD=1; shift ;;
    --loacl) LOACL="$2"; shift 2 ;;
    --allow-idle) IDLE_POLL=0; shift ;;
    --stdlib) STDLIB="$2"; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; usage 2 ;;
  esac
done

case "$STDLIB" in
  static) SWIFT_LINK=(--static-swift-stdlib) GRPC_SCRATCH="$BENCH_DIR/grpc-echo/.build-static"
          LOACL_SCRATCH="${LOACL_SCRATCH:-$REPO_DIR/.build-bench}" ;;
  shared) SWIFT_LINK=() GRPC_SCRATCH="$BENCH_DIR/grpc-echo/.build"
          LOACL_SCRATCH="${LOACL_SCRATCH:-$REPO_DIR/.build-bench-shared}" ;;
  *) echo "run.sh: --stdlib is static or shared, got '$STDLIB'" >&2; exit 2 ;;
esac
# The release builds of the two Swift systems, each with the same runtime linking.
GRPC_PKG="$BENCH_DIR/grpc-echo"
GRPC_BUILD=(swift build -c release --package-path "$GRPC_PKG" --scratch-path "$GRPC_SCRATCH" ${SWIFT_LINK[@]+"${SWIFT_LINK[@]}"})
LOACL_BUILD=(swift build -c release --scratch-path "$LOACL_SCRATCH" ${SWIFT_LINK[@]+"${SWIFT_LINK[@]}"})

is_number() { [[ "$1" =~ ^[0-9]+([.][0-9]+)?$ ]]; }
for v in DURATION WARMUP PAYLOAD CONCURRENCY CONNECTIONS; do
  is_number "${!v}" || { echo "run.sh: $v must be a number, got '${!v}'" >&2; exit 2; }
done
awk -v d="$DURATION" 'BEGIN { exit !(d > 0 && d <= 600) }' || { echo "run.sh: 0 < duration <= 600" >&2; exit 2; }
# A client run may take warmup + duration, plus a margin for connecting and draining.
CLIENT_TIMEOUT="$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { printf "%d", d + w + 30 }')"

WORK_DIR="$(mktemp -d /tmp/loacl-bench.XXXXXX)"
SERVER_PIDS=()

cleanup() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${SERVER_PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[bench] $*" >&2; }
has_system() { [[ " $SYSTEMS " == *" $1 "* ]]; }

# A TCP port on 127.0.0.1 that nothing uses now, below the ephemeral range (32768-60999 here):
# a port in that range can be held by some client socket, which `ss -tln` does not list, and
# a server then fails to bind it (it happened to grpc-echo once, in session 13).
free_port() {
  local port tries
  for tries in $(seq 1 200); do
    port=$(( 20000 + RANDOM % 12000 ))
    if [ -z "$(ss -Htan "sport = :$port" 2>/dev/null)" ]; then echo "$port"; return 0; fi
  done
  echo "run.sh: no free port found" >&2; return 1
}

# wait_ready PID tcp:PORT|unix:PATH — until the server accepts, dies, or the timeout passes.
wait_ready() {
  local pid="$1" where="$2" deadline=$(( SECONDS + SERVER_START_TIMEOUT ))
  while [ "$SECONDS" -lt "$deadline" ]; do
    kill -0 "$pid" 2>/dev/null || { echo "run.sh: server exited before listening" >&2; return 1; }
    case "$where" in
      tcp:*) if [ -n "$(ss -Htln "sport = :${where#tcp:}" 2>/dev/null)" ]; then return 0; fi ;;
      unix:*) if [ -S "${where#unix:}" ]; then return 0; fi ;;
    esac
    sleep 0.1
  done
  echo "run.sh: server not listening on $where after ${SERVER_START_TIMEOUT}s" >&2
  return 1
}

stop_server() {
  local pid="$1"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Results: key "system/transport/mode" -> "calls_per_sec p50 p99 p999 calls rss_kb".
declare -A RESULT
ROWS=()

# run_case SYSTEM TRANSPORT MODE WHERE -- SERVER_CMD... -- CLIENT_CMD...
# WHERE is tcp:PORT or unix:PATH; the client command gets the shared load flags appended.
run_case() {
  local system="$1" transport="$2" mode="$3" where="$4"; shift 4
  [ "$1" = "--" ] && shift
  local server=() client=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do server+=("$1"); shift; done
  shift
  client=("$@")
  local key="$system/$transport/$mode" logf="$WORK_DIR/${system}-${transport}-${mode}"
  log "$key: starting server: ${server[*]}"
  "${server[@]}" >"$logf.server.log" 2>&1 &
  local pid=$!
  SERVER_PIDS+=("$pid")
  if ! wait_ready "$pid" "$where"; then
    sed 's/^/  server: /' "$logf.server.log" >&2 || true
    stop_server "$pid"; return 1
  fi
  local cmd=("${client[@]}" --connections "$CONNECTIONS" --concurrency "$CONCURRENCY"
             --payload "$PAYLOAD" --duration "$DURATION" --warmup "$WARMUP" --mode "$mode")
  log "$key: ${cmd[*]}"
  local line="" status=0
  line="$(timeout -k 5 "$CLIENT_TIMEOUT" "${cmd[@]}" 2>"$logf.client.log" | grep -m1 '^calls_per_sec=')" || status=$?
  local rss_kb
  rss_kb="$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)"
  stop_server "$pid"
  if [ -s "$logf.client.log" ]; then sed 's/^/  client: /' "$logf.client.log" >&2; fi
  if [ -z "$line" ]; then
    log "$key: client failed (status $status), no result line; server log tail:"
    tail -n 20 "$logf.server.log" | sed 's/^/  server: /' >&2 || true
    return 1
  fi
  echo "$key $line server_vmhwm_kb=${rss_kb:-?}"
  local f cps p50 p99 p999 calls
  for f in $line; do
    case "$f" in
      calls_per_sec=*) cps="${f#*=}" ;; p50_us=*) p50="${f#*=}" ;; p99_us=*) p99="${f#*=}" ;;
      p999_us=*) p999="${f#*=}" ;; calls=*) calls="${f#*=}" ;;
    esac
  done
  RESULT[$key]="$cps $p50 $p99 $p999 $calls ${rss_kb:-?}"
  ROWS+=("$key")
}

# ---------------------------------------------------------------------------------------------
# Baseline 1: raw C echo (no streams in its protocol: "streaming" would repeat "unary").
build_raw() { timeout "$BUILD_TIMEOUT" make -s -C "$BENCH_DIR/raw-echo" >&2; }
bench_raw() {
  local bin="$BENCH_DIR/raw-echo/raw-echo" port sock="$WORK_DIR/raw.sock"
  port="$(free_port)"
  run_case raw tcp unary "tcp:$port" -- "$bin" server --port "$port" -- "$bin" client --port "$port" || true
  run_case raw unix unary "unix:$sock" -- "$bin" server --unix "$sock" -- "$bin" client --unix "$sock" || true
}

# Baseline 2: grpc-swift-2 over HTTP/2, plaintext TCP (its own package and .build).
build_grpc() {
  log "building grpc-echo (release; the first build takes many minutes)"
  timeout "$BUILD_TIMEOUT" "${GRPC_BUILD[@]}" >&2
}
bench_grpc() {
  local bin mode port
  bin="$("${GRPC_BUILD[@]}" --show-bin-path)/grpc-echo"
  for mode in $MODES; do
    port="$(free_port)"
    run_case grpc tcp "$mode" "tcp:$port" -- "$bin" server --port "$port" -- "$bin" client --port "$port" || true
  done
}

# =============================================================================================
# ===== LOACL HOOK =====
# LOACL is run exactly like the baselines. Contract (to be supplied by the main package):
#   swift build -c release --product loacld      server: loacld --listen tcp:127.0.0.1:PORT
#                                                         loacld --listen unix:PATH
#   swift build -c release --product loacl-bench client: loacl-bench client (--port P | --unix PATH)
#       --connections C --concurrency N --payload B --duration S --warmup S --mode unary|streaming
#       printing: calls_per_sec=… p50_us=… p99_us=… p999_us=… calls=…
# Extra loacld flags (e.g. database settings) come from $LOACLD_ARGS. Edit only this section
# if the final flags differ.
loacl_available() { grep -q '"loacl-bench"' "$REPO_DIR/Package.swift" 2>/dev/null; }
build_loacl() {
  log "building loacld and loacl-bench (release, $STDLIB stdlib, scratch $LOACL_SCRATCH)"
  (cd "$REPO_DIR" &&
    timeout "$BUILD_TIMEOUT" "${LOACL_BUILD[@]}" --product loacld >&2 &&
    timeout "$BUILD_TIMEOUT" "${LOACL_BUILD[@]}" --product loacl-bench >&2)
}
bench_loacl() {
  local bindir mode port sock
  bindir="${LOACL_BINDIR:-$(cd "$REPO_DIR" && "${LOACL_BUILD[@]}" --show-bin-path)}"
  local server="$bindir/loacld" client="$bindir/loacl-bench"
  local extra=()
  # shellcheck disable=SC2206 # word splitting of user-supplied extra flags is intended
  [ -n "$LOACLD_ARGS" ] && extra=($LOACLD_ARGS)
  for mode in $MODES; do
    port="$(free_port)"
    run_case loacl tcp "$mode" "tcp:$port" -- "$server" --listen "tcp:127.0.0.1:$port" "${extra[@]}" \
      -- "$client" client --port "$port" || true
    sock="$WORK_DIR/loacl-$mode.sock"
    run_case loacl unix "$mode" "unix:$sock" -- "$server" --listen "unix:$sock" "${extra[@]}" \
      -- "$client" client --unix "$sock" || true
    # TLS (OpenSSL handler on both sides) with throwaway certificates.
    [ -f "$WORK_DIR/certs/ca.pem" ] || bash "$REPO_DIR/scripts/gen-test-certs.sh" "$WORK_DIR/certs" >/dev/null
    port="$(free_port)"
    run_case loacl tls "$mode" "tcp:$port" -- "$server" --listen "tls:127.0.0.1:$port" \
      --tls-cert "$WORK_DIR/certs/server.pem" --tls-key "$WORK_DIR/certs/server.key" "${extra[@]}" \
      -- "$client" client --port "$port" --tls-ca "$WORK_DIR/certs/ca.pem" || true
  done
}
# ===== END LOACL HOOK =====
# =============================================================================================

RUN_LOACL=0
if has_system loacl; then
  case "$LOACL" in
    yes|1) RUN_LOACL=1 ;;
    auto) if loacl_available; then RUN_LOACL=1; else log "LOACL: no loacl-bench product yet; skipping"; fi ;;
    *) RUN_LOACL=0 ;;
  esac
fi

if [ "$NO_BUILD" != 1 ]; then
  has_system raw && build_raw
  has_system grpc && build_grpc
  if [ "$RUN_LOACL" = 1 ] && ! build_loacl; then
    [ "$LOACL" = auto ] && { log "LOACL: build failed; skipping"; RUN_LOACL=0; } || exit 1
  fi
fi

# PM QoS request: lasts exactly as long as this file descriptor stays open (until exit).
source "$BENCH_DIR/idle-poll.sh"
hold_idle_poll
[ "$IDLE_POLL" = 1 ] && [ "$IDLE_STATE" != "cpu_dma_latency=0" ] && log "measuring with $IDLE_STATE"

log "settings: duration=${DURATION}s warmup=${WARMUP}s payload=${PAYLOAD}B concurrency=$CONCURRENCY connections=$CONNECTIONS modes=($MODES)"
has_system raw && bench_raw
has_system grpc && bench_grpc
[ "$RUN_LOACL" = 1 ] && bench_loacl

# ---------------------------------------------------------------------------------------------
echo
echo "payload=${PAYLOAD}B concurrency=$CONCURRENCY connections=$CONNECTIONS duration=${DURATION}s (+${WARMUP}s warmup), loopback, $STDLIB Swift stdlib, $IDLE_STATE, $(nproc) cores, loadavg $(cut -d" " -f1-3 /proc/loadavg)"
printf '%-8s %-9s %-10s %12s %10s %10s %10s %10s %12s\n' \
  system transport mode calls/s p50_us p99_us p999_us calls server_rss
for key in "${ROWS[@]}"; do
  read -r cps p50 p99 p999 calls rss <<<"${RESULT[$key]}"
  IFS=/ read -r s t m <<<"$key"
  rss_mib="$(awk -v k="$rss" 'BEGIN { if (k ~ /^[0-9]+$/) printf "%.1fMiB", k / 1024; else print "?" }')"
  printf '%-8s %-9s %-10s %12s %10s %10s %10s %10s %12s\n' "$s" "$t" "$m" "$cps" "$p50" "$p99" "$p999" "$calls" "$rss_mib"
done

# ratio NUM_KEY FIELD DEN_KEY FIELD -> NUM/DEN, or "n/a" when either row is missing.
field() { local v; v="${RESULT[$1]:-}"; [ -n "$v" ] && awk -v i="$2" '{ print $i }' <<<"$v"; }
ratio() {
  local a b; a="$(field "$1" "$2" || true)"; b="$(field "$3" "$4" || true)"
  if [ -z "$a" ] || [ -z "$b" ]; then echo "n/a"; return; fi
  awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'
}
# check VALUE OP LIMIT -> PASS/FAIL/-
check() {
  [ "$1" = "n/a" ] && { echo "-"; return; }
  awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { ok = (op == ">=") ? v >= l : v <= l; print ok ? "PASS" : "FAIL" }'
}

echo
echo "ratios (targets apply to 64-byte unary, 64 calls in flight, one connection):"
r="$(ratio raw/tcp/unary 1 grpc/tcp/unary 1)"
printf '  %-52s %8s\n' "raw tcp / grpc-swift-2 calls/s (headroom)" "$r"
for mode in $MODES; do
  r1="$(ratio "loacl/tcp/$mode" 1 "grpc/tcp/$mode" 1)"
  r2="$(ratio "loacl/tcp/$mode" 3 "grpc/tcp/$mode" 3)"
  r3="$(ratio "loacl/tcp/$mode" 1 raw/tcp/unary 1)"
  r4="$(ratio "loacl/unix/$mode" 1 "loacl/tcp/$mode" 1)"
  printf '  %-52s %8s  %s\n' "[$mode] LOACL tcp / grpc-swift-2 calls/s (>= 3)" "$r1" "$(check "$r1" '>=' 3)"
  printf '  %-52s %8s  %s\n' "[$mode] LOACL tcp / grpc-swift-2 p99 (<= 0.333)" "$r2" "$(check "$r2" '<=' 0.3334)"
  printf '  %-52s %8s  %s\n' "[$mode] LOACL tcp / raw echo tcp calls/s (>= 0.6)" "$r3" "$(check "$r3" '>=' 0.6)"
  printf '  %-52s %8s  %s\n' "[$mode] LOACL unix / LOACL tcp calls/s (>= 1)" "$r4" "$(check "$r4" '>=' 1)"
done
