#!/usr/bin/env bash
# File search benchmark (issue 13): p50/p99 of the file_search step — the full-text search of an
# assistant's knowledge chunks, as a guest session under Row Level Security — over 10,000 chunks
# (≈ 5 MB of text). Runs Tests/LOACLServicesTests/FileSearchBenchmark.swift (skipped unless
# LOACL_BENCH=1) in release against a throwaway PostgreSQL cluster.
# Usage: bench/file-search.sh [--debug]    (as root, like scripts/test.sh)
# LOACL_BENCH_CHUNKS (10000), LOACL_BENCH_QUERIES (2000); LOACL_BENCH_SCRATCH the build folder.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CONFIG=release
[ "${1:-}" = "--debug" ] && CONFIG=debug
export LOACL_PG_DIR="$ROOT/.data/bench-search-postgres" LOACL_PG_PORT="${LOACL_BENCH_PG_PORT:-25334}" LOACL_PG_TEST=1
bash scripts/local-postgres.sh start
trap 'bash scripts/local-postgres.sh stop >/dev/null 2>&1 || true' EXIT
export LOACL_TEST_PG_HOST="$LOACL_PG_DIR/run" LOACL_TEST_PG_PORT="$LOACL_PG_PORT" LOACL_TEST_PG_USER=postgres LOACL_BENCH=1
SCRATCH="${LOACL_BENCH_SCRATCH:-.build-bench}"
swift test -c "$CONFIG" --enable-testable-imports --scratch-path "$SCRATCH" --filter FileSearchBenchmark 2>&1 \
    | grep '^BENCH' | sed 's/^BENCH //'
