#!/bin/sh
# Runs warmd's whole test suite from a fresh clone: installs what is missing
# (Debian packages), builds with warnings as errors, runs the unit and
# integration tests, runs them again in an ASan+UBSan build, runs every fuzz
# target briefly, and checks formatting. Exits non-zero on the first failure.
set -eu
cd "$(dirname "$0")/.."

scripts/deps.sh
echo "== npm ci (the contract test's JSON Schema validator, pinned by its lockfile)"
npm ci --prefix tests/contract --no-audit --no-fund --loglevel=error

jobs=$(nproc 2>/dev/null || echo 2)

echo "== build (RelWithDebInfo, -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr -DWARMD_TESTS=ON >/dev/null
cmake --build build -j "$jobs"
echo "== tests"
ctest --test-dir build --output-on-failure --no-tests=error -LE fuzz

echo "== build (ASan+UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_INSTALL_PREFIX=/usr -DWARMD_SANITIZE=ON -DWARMD_TESTS=ON >/dev/null
cmake --build build-asan -j "$jobs"
echo "== tests under ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	ctest --test-dir build-asan --output-on-failure --no-tests=error

echo "== fuzz smoke (libFuzzer targets built with clang in build-fuzz, 5 s each)"
ctest --test-dir build --output-on-failure --no-tests=error -L fuzz

echo "== format"
scripts/lint.sh

echo "== all tests passed"
