#!/usr/bin/env bash
# Installs everything Tegu needs on a fresh Debian 12 machine and builds the Python package into
# .venv. Safe to run again: it skips what is already there. Used by demo.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(cmake ninja-build g++ clang ccache pkg-config libgtest-dev libbenchmark-dev
              libyaml-cpp-dev nlohmann-json3-dev libmsgpack-cxx-dev libssl-dev libasio-dev libspdlog-dev
              libcli11-dev openssl graphviz
              zlib1g-dev libbz2-dev liblzma-dev libzstd-dev libxxhash-dev
              python3-venv python3-dev)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# ccache shares compiled objects between the CMake build and the pip build.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv
fi
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q "scikit-build-core>=0.10" "nanobind>=2.0" "pytest>=7" "cloudpickle>=2.0" \
  "pyyaml>=6.0"
echo "==> building and installing the tegu Python package"
.venv/bin/pip install -q --no-build-isolation .
