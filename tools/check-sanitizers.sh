#!/usr/bin/env bash
# The memory- and thread-safety part of the README's test command (issue 16), run by CI on every
# submission after the unit tests:
#   1. one clang build with AddressSanitizer + UndefinedBehaviorSanitizer and the libFuzzer
#      harnesses (OPPLAN_FUZZ): the C++ unit, CLI, example and exporter tests run under the
#      sanitizers, then every harness fuzzes its reader for OPPLAN_FUZZ_SECONDS (default 60);
#   2. a ThreadSanitizer build of the library and the concurrency tests (plan(), shard(), the
#      config search, evaluate() and GLPK on several threads at once).
# Not under the sanitizers: the Python package (an instrumented extension needs the sanitizer
# runtime preloaded into python3) and the packaging tests (they rebuild the library as a consumer
# would, which the main build already proves).
#
# usage: tools/check-sanitizers.sh [build-root=build-check]
# Takes about 20-25 minutes on 2 cores (21 min in a fresh clone: ASan build 8, its tests 5, fuzzing 6,
# TSan build and run 2). Any sanitizer report, fuzzer crash, hang or out-of-memory
# fails it; a fuzzer's crashing input is left in <build-root>/asan/tests/fuzz/ (crash-*, oom-*,
# timeout-*) to become a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
root="${1:-build-check}"
fuzz_seconds="${OPPLAN_FUZZ_SECONDS:-60}"
jobs="${OPPLAN_CHECK_JOBS:-2}"
started=$SECONDS

step() { echo "check-sanitizers: $* ($((SECONDS - started)) s)"; }

if ! command -v clang++ >/dev/null; then
  echo "check-sanitizers: clang++ not found (tools/install-deps.sh installs clang)" >&2
  exit 1
fi

# Halt on the first report of any kind, with readable stacks. detect_leaks stays on: a leak is a bug.
export ASAN_OPTIONS="abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=0:strict_string_checks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"

common=(-G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release
        -DCMAKE_CXX_FLAGS=-gline-tables-only -DOPPLAN_BUILD_PYTHON=OFF -DOPPLAN_BUILD_BENCHMARKS=OFF
        -DOPPLAN_INSTALL=OFF)

step "ASan + UBSan + libFuzzer build in $root/asan"
cmake -S . -B "$root/asan" "${common[@]}" -DOPPLAN_FUZZ=ON -DOPPLAN_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
cmake --build "$root/asan" -j "$jobs"

step "tests under ASan + UBSan"
ctest --test-dir "$root/asan" --output-on-failure -j "$jobs" -E '^package\.' --timeout 1800

step "fuzzing every reader for $fuzz_seconds s"
cmake --build "$root/asan" --target fuzz_smoke

step "ThreadSanitizer build in $root/tsan"
cmake -S . -B "$root/tsan" "${common[@]}" -DOPPLAN_SANITIZE_THREAD=ON -DOPPLAN_BUILD_TOOLS=OFF \
      -DOPPLAN_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$root/tsan" -j "$jobs" --target opplan_concurrency_tests

step "concurrency tests under TSan"
"$root/tsan/tests/opplan_concurrency_tests"

step "all sanitizer checks passed"
