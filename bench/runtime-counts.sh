#!/usr/bin/env bash
# Exact per-call counts of Swift runtime work in a release loacld or loacl-bench (issue 14),
# where timing is too noisy to see a few percent: uprobes (`perf probe`) on swift_retain,
# swift_release, malloc, swift_task_switch, swift_getGenericMetadata and
# swift_getCanonicalPrespecializedGenericMetadata (generic types looked up at run time by
# unspecialized code; the second is how `Optional<R>` of a generic `R` is found), counted with
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
lib() { ldd "$TARGET_BIN" | awk -v n="$1" '$1 == n {print $3}'; }
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
perf probe -q -x "$CONC" -a swift_task_switch
perf probe -q -x "$CORE" -a swift_retain
perf probe -q -x "$CORE" -a swift_release
perf probe -q -x "$CORE" -a swift_getGenericMetadata
perf probe -q -x "$CORE" -a swift_getCanonicalPrespecializedGenericMetadata
perf probe -q -x "$LIBC" -a malloc
if [ "$SIDE" = server ] && [ "$MODE" = unary ]; then
  perf probe -q -x "$CONC" -a swift_task_immediate; PER="probe_libswift_Concurrency:swift_task_immediate"
else
  PBC=$(lib libprotobuf-c.so.1)
  perf probe -q -x "$PBC" -a protobuf_c_message_pack; PER="probe_libprotobuf:protobuf_c_message_pack"
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
calls=$(awk -F, -v e="$PER" '$3 == e || $3 ~ ":" e "$" {print $1}' "$OUT/stat")
echo "$(basename "$(dirname "$LOACLD")") $SIDE $MODE, per $([ "$MODE" = unary ] && echo call || echo message) ($calls in 1 s):"
awk -F, -v n="$calls" -v e="$PER" '!($3 == e || $3 ~ ":" e "$") {sub(/^probe_[^:]*:/, "", $3); printf "  %-18s %.2f\n", $3, $1 / n}' "$OUT/stat"
