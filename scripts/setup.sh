#!/usr/bin/env bash
# Installs the system packages LOACL builds and tests with (Debian 12, as root). Skips apt
# entirely when everything is already there, so repeated runs cost nothing.
set -euo pipefail

PACKAGES=(
  pkg-config libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
  libpq-dev libssl-dev openssl postgresql postgresql-client zlib1g-dev curl
  valgrind make gcc python3-venv poppler-utils
)
PYTHON_PROTOBUF="protobuf==4.21.12"   # matches Debian 12's protoc 3.21.12

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages ${missing[*]}; run as root (apt-get)" >&2
    exit 1
  fi
  echo "setup: apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! python3 -c "import google.protobuf" 2>/dev/null; then
  echo "setup: pip install $PYTHON_PROTOBUF" >&2
  python3 -m pip install -q "$PYTHON_PROTOBUF"
fi
if ! command -v swift >/dev/null; then
  echo "setup: swift is not on PATH (expected the Swift 6 toolchain, e.g. /opt/swift/usr/bin)" >&2
  exit 1
fi
