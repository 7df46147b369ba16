#!/usr/bin/env bash
# Sets everything up, then runs every test: the C++ tests (warnings as errors), the core and
# executor tests and the bag's kernels again under ASan/UBSan and TSan, the install/find_package consumer test, and
# the Python tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=true
JOBS=${JOBS:-$(nproc)}

echo "==> C++ build and tests (Release, -Werror)"
cmake -S . -B build/release -G Ninja -DTEGU_WERROR=ON >/dev/null
cmake --build build/release -j "$JOBS"
ctest --test-dir build/release --output-on-failure -j "$JOBS"

SANITIZER_TESTS='core_test|local_test|api_test|config_test|protocol_test|net_test|worker_test|scheduler_test|distributed_test|distributed_api_test|bag_test'
for san in address thread; do
  echo "==> C++ core and executor tests under -fsanitize=$san"
  cmake -S . -B "build/$san" -G Ninja -DTEGU_WERROR=ON -DTEGU_SANITIZE=$san \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTEGU_BUILD_BENCHMARKS=OFF -DTEGU_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "build/$san" -j "$JOBS" --target core_test local_test api_test config_test protocol_test net_test worker_test scheduler_test distributed_test distributed_api_test bag_test
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ASAN_OPTIONS="detect_leaks=1" \
    ctest --test-dir "build/$san" --output-on-failure -R "$SANITIZER_TESTS"
done

echo "==> fuzzing the frame, header and handshake decoders (libFuzzer, 30 s)"
cmake -S . -B build/fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DTEGU_BUILD_FUZZERS=ON \
  -DTEGU_BUILD_TESTS=OFF -DTEGU_BUILD_BENCHMARKS=OFF -DTEGU_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/fuzz --target frame_fuzz
rm -rf build/fuzz/corpus && mkdir -p build/fuzz/corpus && cp tests/fuzz/frame_corpus/* build/fuzz/corpus/
build/fuzz/src/tegu/protocol/frame_fuzz -max_total_time=30 -rss_limit_mb=2048 -print_final_stats=1 \
  build/fuzz/corpus 2>&1 | tail -n 3

echo "==> Python tests"
.venv/bin/python -m pytest -q python/tests
