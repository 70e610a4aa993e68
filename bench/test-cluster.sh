# Sourced by the benchmarks that run a test suite's benchmark tests (bench/upstream-latency.sh,
# data-services.sh, file-search.sh, run-follow-latency.sh, ab-saved-tests.sh): starts a throwaway
# PostgreSQL cluster under .data/NAME (scripts/local-postgres.sh), stops it when the script exits,
# and points the tests at it (LOACL_TEST_PG_*, LOACL_BENCH=1).
#   start_test_cluster NAME PORT [--pg-stat-statements]
# PORT is the default; LOACL_BENCH_PG_PORT overrides it. Expects ROOT and the working directory
# to be the repository.
start_test_cluster() {
    local name=$1 port=$2 statements=${3:-}
    export LOACL_PG_DIR="$ROOT/.data/$name" LOACL_PG_PORT="${LOACL_BENCH_PG_PORT:-$port}" LOACL_PG_TEST=1
    bash scripts/local-postgres.sh start >/dev/null
    trap 'bash scripts/local-postgres.sh stop >/dev/null 2>&1 || true' EXIT
    # Some benchmarks count statements per reply.
    if [ "$statements" = --pg-stat-statements ] &&
       ! bash scripts/local-postgres.sh psql -tA -c "SHOW shared_preload_libraries" | grep -q pg_stat_statements; then
        bash scripts/local-postgres.sh psql -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" >/dev/null
        bash scripts/local-postgres.sh stop >/dev/null
        bash scripts/local-postgres.sh start >/dev/null
    fi
    export LOACL_TEST_PG_HOST="$LOACL_PG_DIR/run" LOACL_TEST_PG_PORT="$LOACL_PG_PORT" LOACL_TEST_PG_USER=postgres LOACL_BENCH=1
}
