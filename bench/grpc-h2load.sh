#!/usr/bin/env bash
# Protocol for protocol: LOACL's gRPC listener against grpc-swift-2's server (bench/grpc-echo),
# both driven by the same neutral HTTP/2 load generator, h2load (Debian's nghttp2-client), with a
# fixed gRPC request body: a 64-byte payload echoed by unary calls, one connection, N in flight.
# Prints calls/s and p50/p99/p99.9 latency from h2load's per-request log, and the server's CPU time
# per call (user+sys from /proc, over the whole h2load run including its warm-up, divided by the
# logged calls): on a machine shared with builds, calls/s swings with the load, CPU per call much less.
#   env LOACLD      loacld release binary (default: .build-bench release)
#       GRPC_ECHO   grpc-echo release binary (default: bench/grpc-echo/.build/release/grpc-echo)
#       DURATION (5, seconds), WARMUP (500ms, h2load syntax), INFLIGHT ("64 1"), LOACL_PORT (25351), ECHO_PORT (25352)
set -euo pipefail
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
LOACLD="${LOACLD:-$REPO_DIR/.build-bench/release/loacld}"
GRPC_ECHO="${GRPC_ECHO:-$BENCH_DIR/grpc-echo/.build/release/grpc-echo}"
DURATION="${DURATION:-5}" WARMUP="${WARMUP:-500ms}" INFLIGHT="${INFLIGHT:-64 1}"
LOACL_PORT="${LOACL_PORT:-25351}" ECHO_PORT="${ECHO_PORT:-25352}"
command -v h2load >/dev/null || { echo "grpc-h2load.sh: apt-get install nghttp2-client" >&2; exit 1; }
WORK="$(mktemp -d /tmp/loacl-h2load.XXXXXX)"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT

# Bodies: gRPC prefix (flag 0, u32 length) + message. LOACL: BenchmarkRequest{payload: 64 × 'a'}
# (field 1, length 64); grpc-echo: the raw 64 bytes.
python3 - "$WORK" <<'PY'
import struct, sys
payload = b"a" * 64
loacl = b"\x0a\x40" + payload
open(sys.argv[1] + "/loacl.body", "wb").write(b"\x00" + struct.pack(">I", len(loacl)) + loacl)
open(sys.argv[1] + "/echo.body", "wb").write(b"\x00" + struct.pack(">I", len(payload)) + payload)
PY

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
"$LOACLD" serve --listen "grpc:127.0.0.1:$LOACL_PORT" --log-level error >"$WORK/loacld.log" 2>&1 & PIDS+=($!)
LOACL_PID=$!
wait_port "$LOACL_PORT"
HAVE_ECHO=0
if [ -x "$GRPC_ECHO" ]; then
  "$GRPC_ECHO" server --port "$ECHO_PORT" >"$WORK/echo.log" 2>&1 & PIDS+=($!)
  ECHO_PID=$!
  wait_port "$ECHO_PORT" && HAVE_ECHO=1
else
  echo "grpc-h2load.sh: no grpc-echo at $GRPC_ECHO (swift build -c release --package-path bench/grpc-echo); LOACL only" >&2
fi

run() { # name port path body inflight server-pid
  local log="$WORK/$1-$5.log" ticks; ticks="$(cpu_ticks "$6")"
  h2load -c 1 -m "$5" -D "$DURATION" --warm-up-time "$WARMUP" -H "content-type: application/grpc" -H "te: trailers" \
    -d "$WORK/$4" --log-file "$log" "http://127.0.0.1:$2$3" >"$WORK/$1-$5.out" 2>&1
  ticks=$(( $(cpu_ticks "$6") - ticks ))
  local failed; failed="$(grep -Eo '[0-9]+ failed' "$WORK/$1-$5.out" | head -1)"
  cut -f3 "$log" | sort -n | awk -v name="$1" -v n="$5" -v d="$DURATION" -v failed="$failed" -v ticks="$ticks" -v hz="$(getconf CLK_TCK)" '
    { v[NR] = $1 } END {
      i50 = int(NR * 0.50 + 0.999999); i99 = int(NR * 0.99 + 0.999999); i999 = int(NR * 0.999 + 0.999999)
      printf "%-14s in_flight=%-3s calls_per_sec=%d p50_us=%d p99_us=%d p999_us=%d cpu_us_per_call=%.1f calls=%d (%s)\n",
        name, n, NR / d, v[i50], v[i99], v[i999], ticks * 1e6 / hz / NR, NR, failed }'
}
echo "h2load, one connection, 64-byte unary echo, ${DURATION}s (+${WARMUP} warm-up), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $INFLIGHT; do
  run loacl-grpc "$LOACL_PORT" /loacl.v1.BenchmarkService/UnaryCall loacl.body "$n" "$LOACL_PID"
  [ "$HAVE_ECHO" = 1 ] && run grpc-swift-2 "$ECHO_PORT" /bench.Echo/Unary echo.body "$n" "$ECHO_PID"
done
