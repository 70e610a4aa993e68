#!/usr/bin/env bash
# File search benchmark (issue 13): p50/p99 of the file_search step — the full-text search of an
# assistant's knowledge chunks and the thread's text attachments, as a guest session under Row
# Level Security — over 10,000 knowledge chunks (≈ 5 MB of text), in a thread without
# attachments and in one with LOACL_BENCH_THREAD_CHUNKS attachment chunks. Runs
# Tests/LOACLServicesTests/FileSearchBenchmark.swift (skipped unless LOACL_BENCH=1) in release
# against a throwaway PostgreSQL cluster, and prints the machine's load before and after.
# Usage: bench/file-search.sh [--debug]    (as root, like scripts/test.sh)
# LOACL_BENCH_CHUNKS (10000), LOACL_BENCH_THREAD_CHUNKS (200), LOACL_BENCH_QUERIES (2000);
# LOACL_BENCH_SCRATCH the build folder (.build-bench), LOACL_BENCH_PG_PORT the cluster's port.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CONFIG=release
[ "${1:-}" = "--debug" ] && CONFIG=debug
source "$ROOT/bench/test-cluster.sh"
start_test_cluster bench-search-postgres 25334
SCRATCH="${LOACL_BENCH_SCRATCH:-.build-bench}"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min; $(nproc) cores), $CONFIG build"
LOG="$ROOT/.data/bench-file-search.log"
status=0
swift test -c "$CONFIG" --enable-testable-imports --scratch-path "$SCRATCH" --filter FileSearchBenchmark >"$LOG" 2>&1 || status=$?
grep '^BENCH' "$LOG" | sed 's/^BENCH //' || true
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$status" -ne 0 ]; then
  tail -20 "$LOG"
  echo "file-search: FAILED (swift test exited $status; whole output in $LOG)"
  exit 1
fi
