#!/usr/bin/env bash
# Installs the Debian 12 (bookworm) packages opplan needs to build, test and benchmark.
# Safe to run again: it installs only what is missing (and then needs apt-get update first).
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libglpk-dev glpk-utils          # MIP solver (library and glpsol)
  libboost-graph-dev              # graph algorithms
  libeigen3-dev                   # dense linear algebra
  libfmt-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  coinor-cbc                      # CBC: checks the sharding ILP's objective on the same MPS file
  python3-torch python3-torchvision  # PyTorch exporter (tools/torch_export) and its tests
  libonnx-dev libprotobuf-dev       # ONNX import (read_onnx_graph); optional: the build works without
  python3-dev pybind11-dev python3-pybind11 python3-pytest  # the Python package (python/) and its tests
  clang libclang-rt-14-dev llvm-14  # sanitizer and libFuzzer builds (tools/check-sanitizers.sh)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages are installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
