#!/bin/bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.c) with clang in build-fuzz
# and runs each for SECONDS (default 30) on a scratch copy of its committed
# corpus (tests/fuzz/corpus/TARGET) and its regression inputs
# (tests/fuzz/regress/TARGET), several at once (FUZZ_JOBS, default
# nproc). Prints one line per target with its executions; exits non-zero
# when a target crashes, leaks, times out or a sanitizer reports anything,
# and keeps the reproducer and the log in build-fuzz/crashes/TARGET/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#   scripts/fuzz.sh --seed [TARGET...]   # refresh the committed corpora: add
#       the fixtures' and unit tests' seeds (and FUZZ_MERGE_FROM/TARGET, e.g.
#       the corpus of a long run), minimised with libFuzzer's -merge=1
#
# Reproduce a crash: build-fuzz/tests/fuzz/TARGET build-fuzz/crashes/TARGET/crash-...
set -eu
cd "$(dirname "$0")/.."

build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
seed=false
if [ "${1:-}" = "--seed" ]; then
	seed=true
	shift
	secs=0
else
	secs=${1:-30}
	[ $# -gt 0 ] && shift
	case $secs in
	'' | *[!0-9]* | 0)
		echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...] | --seed [TARGET...]" >&2
		exit 2
		;;
	esac
fi

if ! command -v clang >/dev/null 2>&1; then
	echo "fuzz.sh: clang not found: the fuzz targets need clang and libFuzzer" \
		"(scripts/deps.sh installs clang and libclang-rt-14-dev)" >&2
	exit 1
fi

if [ $# -gt 0 ]; then
	targets="$*"
else
	targets=$(cd tests/fuzz && for f in fuzz_*.c; do echo "${f%.c}"; done)
fi

t0=$(date +%s)
mkdir -p "$build"
echo "fuzz.sh: building $(echo "$targets" | wc -w) targets in $build" >&2
if ! { CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DWARMD_FUZZ=ON \
	-DWARMD_TESTS=OFF && cmake --build "$build" -j "$jobs" --target fuzzers; } \
	>"$build/fuzz-build.log" 2>&1; then
	tail -n 40 "$build/fuzz-build.log" >&2
	echo "fuzz.sh: build failed (full log: $build/fuzz-build.log)" >&2
	exit 1
fi
echo "fuzz.sh: built in $(($(date +%s) - t0)) s" >&2

scratch=$(mktemp -d "${TMPDIR:-/tmp}/warmd-fuzz.XXXXXX")
# Files the targets themselves write (fuzz_state's state files, fsynced):
# in memory when possible, and gone after the run even if a target crashed.
if [ -w /dev/shm ]; then
	FUZZ_SCRATCH=$(mktemp -d /dev/shm/warmd-fuzz.XXXXXX)
else
	FUZZ_SCRATCH=$scratch/files
	mkdir -p "$FUZZ_SCRATCH"
fi
export FUZZ_SCRATCH
trap 'rm -rf "$scratch" "$FUZZ_SCRATCH"' EXIT

# Sanitizer reports abort the run (the build has -fno-sanitize-recover=all);
# libFuzzer itself checks for leaks after every input that allocated.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0}

regress_dir() {
	[ -d "tests/fuzz/regress/$1" ] && echo "tests/fuzz/regress/$1"
	return 0
}

dict_args() {
	[ -f "tests/fuzz/$1.dict" ] && echo "-dict=tests/fuzz/$1.dict"
	return 0
}

if $seed; then
	for t in $targets; do
		raw=$scratch/$t.raw new=$scratch/$t.new old=tests/fuzz/corpus/$t
		mkdir -p "$raw" "$new" "$old"
		python3 tests/fuzz/make_corpus.py "$t" "$raw"
		extra=""
		[ -n "${FUZZ_MERGE_FROM:-}" ] && [ -d "$FUZZ_MERGE_FROM/$t" ] && extra=$FUZZ_MERGE_FROM/$t
		# shellcheck disable=SC2046,SC2086
		"$build/tests/fuzz/$t" -merge=1 -artifact_prefix="$scratch/$t." $(dict_args "$t") \
			"$new" "$old" "$raw" $extra \
			>"$scratch/$t.log" 2>&1 || { tail -n 30 "$scratch/$t.log" >&2; exit 1; }
		# A crash during the merge leaves inputs unweighed: keep the old corpus.
		if grep -Eq 'ERROR: |runtime error:' "$scratch/$t.log"; then
			grep -Em3 'ERROR: |runtime error:' "$scratch/$t.log" >&2
			echo "$t: inputs crash during the merge (fix them first):" \
				"corpus left as it was" >&2
			exit 1
		fi
		rm -rf "$old"
		mv "$new" "$old"
		echo "$t: $(find "$old" -type f | wc -l) inputs, $(du -sk "$old" | cut -f1) KiB" >&2
	done
	exit 0
fi

# One target: run it on a copy of its corpus; leave its verdict in $scratch/$t.result.
run_one() {
	local t=$1 dir=$scratch/$1 rc=0 start execs crashes=0 why="" at

	mkdir -p "$dir/corpus" "$dir/artifacts"
	if [ -d "tests/fuzz/corpus/$t" ]; then
		cp -R "tests/fuzz/corpus/$t/." "$dir/corpus/"
	fi
	start=$(date +%s)
	# New inputs go to the first directory only; the regression inputs of
	# fixed crashes (tests/fuzz/regress/TARGET) are replayed every time.
	# shellcheck disable=SC2046
	"$build/tests/fuzz/$t" -max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$dir/artifacts/" $(dict_args "$t") \
		"$dir/corpus" $(regress_dir "$t") >"$dir/log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)
	[ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$dir/log" | tail -n 1)
	[ -n "$execs" ] || execs=0
	crashes=$(find "$dir/artifacts" -type f | wc -l)
	if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY: ' \
		"$dir/log" || [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
		why=$(grep -Em1 'ERROR: |runtime error:|SUMMARY: ' "$dir/log" || true)
		# An abort() (a target's own check): say which line of ours it was.
		at=$(grep -A40 'deadly signal' "$dir/log" |
			grep -m1 -oE '(tests/fuzz|daemon|common)/[A-Za-z0-9_/]+\.c:[0-9]+' || true)
		[ -n "$at" ] && why="$why at $at"
		[ "$crashes" -ne 0 ] || crashes=1
		mkdir -p "$build/crashes/$t"
		cp "$dir/log" "$build/crashes/$t/log"
		cp -R "$dir/artifacts/." "$build/crashes/$t/" 2>/dev/null || true
		printf '%s: %s execs in %s s, %s crash(es), exit %s: %s (see %s/crashes/%s)\n' \
			"$t" "$execs" "$(($(date +%s) - start))" "$crashes" "$rc" "${why:-no report}" \
			"$build" "$t" >"$scratch/$t.result"
		return 1
	fi
	printf '%s: %s execs in %s s, 0 crashes\n' "$t" "$execs" "$(($(date +%s) - start))" \
		>"$scratch/$t.result"
	return 0
}

t1=$(date +%s)
running=0
for t in $targets; do
	if [ ! -x "$build/tests/fuzz/$t" ]; then
		echo "$t: no such fuzz target" >"$scratch/$t.result"
		continue
	fi
	if [ "$running" -ge "$jobs" ]; then
		wait -n || true
		running=$((running - 1))
	fi
	run_one "$t" &
	running=$((running + 1))
done
wait || true

failed=0
for t in $targets; do
	cat "$scratch/$t.result"
	grep -q ', 0 crashes$' "$scratch/$t.result" || failed=$((failed + 1))
done
echo "fuzz.sh: $(echo "$targets" | wc -w) targets, ${secs} s each, $jobs at a time:" \
	"ran in $(($(date +%s) - t1)) s, $failed failed" >&2
[ "$failed" -eq 0 ]
