#!/usr/bin/env bash
# Exact per-call counts of Swift runtime work in a release loacld or loacl-bench (issue 14),
# where timing is too noisy to see a few percent: uprobes (`perf probe`) on swift_retain,
# swift_release, malloc, swift_task_switch, swift_getGenericMetadata,
# swift_getCanonicalPrespecializedGenericMetadata (generic types looked up at run time by
# unspecialized code; the second is how `Optional<R>` of a generic `R` is found) and
# swift_beginAccess (a dynamic exclusivity check of a class property or global), counted with
# `perf stat -p` over one second of load, divided by the calls in that second. Needs root
# (uprobes) and linux-perf (`apt-get install -y linux-perf`; bench/run.sh's machine has it).
#
#   bench/runtime-counts.sh LOACLD [unary|streaming] [server|client]
#
# server (default): counts in loacld. Load: bench/loadgen (unary) or loacl-bench (streaming).
#   Per call: swift_task_immediate (one per unary call); per message: protobuf_c_message_pack
#   (one per echoed message).
# client: counts in loacl-bench (the Swift client) against LOACLD. Per call or message:
#   protobuf_c_message_pack (one per request).
# Environment: PORT (24460), IN_FLIGHT (64), CLIENT (the loacl-bench to use; default: the one
# next to LOACLD).
set -euo pipefail
LOACLD="${1:?usage: bench/runtime-counts.sh LOACLD [unary|streaming] [server|client]}"; MODE="${2:-unary}"; SIDE="${3:-server}"
BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PORT="${PORT:-24460}" IN_FLIGHT="${IN_FLIGHT:-64}" CLIENT="${CLIENT:-$(dirname "$LOACLD")/loacl-bench}"
command -v perf >/dev/null || { echo "runtime-counts: perf is not installed (apt-get install -y linux-perf)" >&2; exit 2; }
case "$MODE/$SIDE" in unary/server|streaming/server|unary/client|streaming/client) ;; *) echo "runtime-counts: mode is unary|streaming, side server|client" >&2; exit 2 ;; esac
TARGET_BIN="$LOACLD"; [ "$SIDE" = client ] && TARGET_BIN="$CLIENT"
# A library's path, or the binary itself when it links that library statically (the Swift
# runtime with --static-swift-stdlib, as bench/run.sh builds it).
lib() { local path; path=$(ldd "$TARGET_BIN" | awk -v n="$1" '$1 == n {print $3}'); echo "${path:-$TARGET_BIN}"; }
CONC=$(lib libswift_Concurrency.so) CORE=$(lib libswiftCore.so) LIBC=$(lib libc.so.6)
OUT=$(mktemp -d); SP=""; LOAD=""
cleanup() {
  perf probe -q -d 'probe_*' >/dev/null 2>&1 || true
  [ -n "$LOAD" ] && kill "$LOAD" 2>/dev/null || true
  [ -n "$SP" ] && kill "$SP" 2>/dev/null || true
  rm -rf "$OUT"
}
trap cleanup EXIT
perf probe -q -d 'probe_*' >/dev/null 2>&1 || true
# A probe on FILE's function SYMBOL; by address when perf finds the symbol but not its debug
# information (the runtime's C++ inside a binary linked with --static-swift-stdlib).
probe() {
  perf probe -q -x "$1" -a "$2" 2>/dev/null && return 0
  local address; address=$(nm "$1" | awk -v s="$2" '$3 == s && !found {print $1; found = 1}')
  [ -n "$address" ] || { echo "runtime-counts: no symbol $2 in $1" >&2; exit 1; }
  perf probe -q -x "$1" -a "$2=0x$address" 2>/dev/null
}
probe "$CONC" swift_task_switch
probe "$CORE" swift_retain
probe "$CORE" swift_release
probe "$CORE" swift_getGenericMetadata
probe "$CORE" swift_getCanonicalPrespecializedGenericMetadata
probe "$CORE" swift_beginAccess
probe "$LIBC" malloc
if [ "$SIDE" = server ] && [ "$MODE" = unary ]; then
  probe "$CONC" swift_task_immediate; PER="swift_task_immediate"
else
  PBC=$(lib libprotobuf-c.so.1)
  probe "$PBC" protobuf_c_message_pack; PER="protobuf_c_message_pack"
fi
"$LOACLD" serve --listen "tcp:127.0.0.1:$PORT" --log-level error >/dev/null 2>&1 & SP=$!
sleep 0.5
if [ "$SIDE" = server ] && [ "$MODE" = unary ]; then
  "$BENCH_DIR/loadgen/loadgen" --port "$PORT" --in-flight "$IN_FLIGHT" --duration 3 --warmup 0.2 >/dev/null &
else
  "$CLIENT" client --port "$PORT" --concurrency "$IN_FLIGHT" --duration 3 --warmup 0.2 --mode "$MODE" >/dev/null &
fi
LOAD=$!
sleep 1.2
MEASURED=$SP
[ "$SIDE" = client ] && MEASURED=$LOAD
perf stat -x, -e 'probe_*:*' -p "$MEASURED" -- sleep 1 2> "$OUT/stat"
wait "$LOAD"; LOAD=""
calls=$(awk -F, -v e="$PER" '$3 ~ ":" e "$" {print $1}' "$OUT/stat")
echo "$(basename "$(dirname "$LOACLD")") $SIDE $MODE, per $([ "$MODE" = unary ] && echo call || echo message) ($calls in 1 s):"
awk -F, -v n="$calls" -v e="$PER" '!($3 ~ ":" e "$") {sub(/^probe_[^:]*:/, "", $3); printf "  %-18s %.2f\n", $3, $1 / n}' "$OUT/stat"
