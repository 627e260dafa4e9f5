#!/bin/sh
# usage: tools/fuzz.sh [SECONDS] [HARNESS...]
#
# Builds the libFuzzer harnesses of tests/fuzz in build-fuzz/ (clang,
# -Dfuzz=true, AddressSanitizer + UBSan) and runs each for SECONDS
# (default 30), or only the named ones (gguf, llama2c, tokenizer, cli, ...).
# Each starts from its seeds in tests/fuzz/corpus/NAME and keeps what it
# finds in build-fuzz/corpus/NAME, so later runs go on from there. A crash,
# leak, sanitizer report or timeout leaves its input in
# build-fuzz/crash-NAME-* and makes the script exit non-zero after all
# harnesses have run. Reproduce one with
#   build-fuzz/tests/fuzz/fuzz_NAME build-fuzz/crash-NAME-...
# For a long run, give a large budget (tools/fuzz.sh 3600 gguf).
set -eu
cd "$(dirname "$0")/.."

budget=${1:-30}
[ $# -gt 0 ] && shift
case $budget in
    '' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a number, got '$budget'" >&2; exit 2 ;;
esac

command -v clang >/dev/null 2>&1 || { echo "fuzz.sh: clang is needed (apt-get install clang)" >&2; exit 1; }
if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang meson setup build-fuzz -Dfuzz=true -Dbuildtype=debugoptimized \
        -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
# Only the harnesses and what they link, not the whole tree.
targets=$(ninja -C build-fuzz -t targets all | sed -n 's|^\(tests/fuzz/fuzz_[a-z0-9_]*\): .*|\1|p' | sort -u)
[ -n "$targets" ] || { echo "fuzz.sh: build-fuzz has no harnesses (is the compiler clang?)" >&2; exit 1; }
# shellcheck disable=SC2086
ninja -C build-fuzz $targets >/dev/null

[ $# -gt 0 ] || set -- $(echo "$targets" | sed 's|.*/fuzz_||')

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failed=""
for name in "$@"; do
    exe=build-fuzz/tests/fuzz/fuzz_$name
    [ -x "$exe" ] || { echo "fuzz.sh: no harness '$name'" >&2; failed="$failed $name"; continue; }
    mkdir -p "build-fuzz/corpus/$name"
    seeds=tests/fuzz/corpus/$name
    [ -d "$seeds" ] || seeds=
    echo "=== fuzz_$name: $budget s"
    # -close_fd_mask=3: the harnesses' own output (parser messages) is
    # noise; libFuzzer and the sanitizers still report on a duplicate.
    if ! "$exe" -max_total_time="$budget" -max_len=65536 -timeout=20 -rss_limit_mb=2048 \
            -close_fd_mask=3 -print_final_stats=1 -artifact_prefix="build-fuzz/crash-$name-" \
            "build-fuzz/corpus/$name" $seeds 2>"build-fuzz/fuzz-$name.log"; then
        failed="$failed $name"
        tail -n 60 "build-fuzz/fuzz-$name.log"
    fi
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+ *DONE' "build-fuzz/fuzz-$name.log" || true
done

if [ -n "$failed" ]; then
    echo "fuzz.sh: failed:$failed (inputs in build-fuzz/crash-*)" >&2
    exit 1
fi
echo "fuzz.sh: all harnesses ran $budget s without a finding"
