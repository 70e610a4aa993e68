#!/usr/bin/env bash
# Stock gRPC clients against loacld's grpc:/grpcs: listeners: Python grpcio from PyPI, stubs
# generated now from proto/ by grpcio-tools' own protoc (not Debian's), pytest.
#   env LOACLD              the built server binary (required)
#       LOACL_DATABASE_URL  runtime role's URL; without it the data-service tests skip
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
: "${LOACLD:?set LOACLD to the built loacld binary}"
export LOACLD="$(realpath "$LOACLD")"

VENV="$(mktemp -d /tmp/loacl-grpc-venv-XXXXXX)"
STUBS="$(mktemp -d /tmp/loacl-grpc-stubs-XXXXXX)"
trap 'rm -rf "$VENV" "$STUBS"' EXIT
# Its own environment: grpcio-tools needs a newer protobuf than the LOACL Python client's pin.
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$HERE/requirements.txt"
# The LOACL Python client beside them, as a user would install it: it must not downgrade protobuf.
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "$ROOT/clients/python"
rm -rf "$ROOT/clients/python/build"   # setuptools builds in the tree
"$VENV/bin/python" -m pip check

(cd "$ROOT/proto" && "$VENV/bin/python" -m grpc_tools.protoc -I. --python_out="$STUBS" --grpc_python_out="$STUBS" \
  $(find loacl/v1 -name '*.proto' | sort))
export LOACL_GRPC_STUBS="$STUBS"

cd "$HERE" && "$VENV/bin/python" -m pytest -q -rs tests
