#!/usr/bin/env bash
# Entry point for the polyglot clients' tests (called by the project's test command).
#   env LOACLD               the built server binary (required)
#       LOACL_DATABASE_URL   runtime database URL for loacld's data services; when unset and the
#                            server has data services, a throwaway PostgreSQL is started (best effort)
#                            on port LOACL_CLIENTS_PG_PORT (default 25340)
# Installs what is missing (apt: valgrind libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
# libssl-dev curl; pip: the client into a virtualenv, grpcio & co into another), runs the C tests,
# then pytest for the Python client and for stock grpcio (clients/grpc). Exit status non-zero when
# anything failed.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
: "${LOACLD:?set LOACLD to the built loacld binary (e.g. .build/debug/loacld)}"
LOACLD="$(realpath "$LOACLD")"
export LOACLD

# ---- system packages, only when missing -----------------------------------------------------------
missing=()
for pkg in valgrind libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libssl-dev curl; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "clients/test.sh: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# ---- the Python client, installed as a user would (pip install ./clients/python) ------------------
VENV="$(mktemp -d /tmp/loacl-clients-venv-XXXXXX)"
PG_STARTED=""
cleanup() {
  rm -rf "$VENV"
  if [ -n "$PG_STARTED" ]; then LOACL_PG_DIR="$PG_STARTED" "$ROOT/scripts/local-postgres.sh" stop >/dev/null 2>&1 || true; rm -rf "$PG_STARTED"; fi
}
trap cleanup EXIT
# System site packages: a protobuf/pytest already there is reused instead of downloaded.
python3 -m venv --system-site-packages "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "$HERE/python" "pytest>=7"
rm -rf "$HERE/python/build"   # setuptools builds in the tree
PY="$VENV/bin/python"

# ---- a database for the data services, when they exist and none was given ------------------------
if [ -z "${LOACL_DATABASE_URL:-}" ]; then
  if "$PY" "$HERE/python/tests/probe_data_services.py" "$LOACLD"; then
    PG_DIR="$(mktemp -d /tmp/loacl-pg-XXXXXX)"
    # A fixed port below Linux's ephemeral range (32768-60999), which outgoing connections use.
    PORT="${LOACL_CLIENTS_PG_PORT:-25340}"
    if LOACL_PG_DIR="$PG_DIR" LOACL_PG_PORT="$PORT" LOACL_PG_TEST=1 "$ROOT/scripts/local-postgres.sh" start >/dev/null 2>&1; then
      PG_STARTED="$PG_DIR"
      eval "$(LOACL_PG_DIR="$PG_DIR" LOACL_PG_PORT="$PORT" "$ROOT/scripts/local-postgres.sh" env)"
      export LOACL_DATABASE_URL
      (cd "$ROOT" && "$LOACLD" migrate --database-url "$LOACL_MIGRATION_DATABASE_URL" --migrations-dir "$ROOT/migrations") \
        || echo "clients/test.sh: migrations failed; data tests will say so"
    else
      echo "clients/test.sh: could not start a throwaway PostgreSQL; data tests will say so"
      rm -rf "$PG_DIR"
    fi
  fi
fi

status=0
echo "== C client (clients/c/test.sh)"
bash "$HERE/c/test.sh" || status=1
echo "== generated code is current"
bash "$HERE/python/generate.sh" --check || status=1
bash "$HERE/c/generate.sh" --check || status=1
echo "== Python client (pytest clients/python/tests)"
(cd "$HERE/python" && "$PY" -m pytest -rs tests) || status=1
echo "== stock gRPC client: grpcio against grpc:/grpcs: listeners (clients/grpc/test.sh)"
bash "$HERE/grpc/test.sh" || status=1
exit "$status"
