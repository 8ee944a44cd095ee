#!/bin/sh
# Checks that every C file is formatted as .clang-format says.
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find common daemon tests -name '*.[ch]')
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files
