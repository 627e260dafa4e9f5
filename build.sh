#!/usr/bin/env bash
# The developer entry point: installs what the build needs (Debian/Ubuntu),
# configures and builds with meson + ninja, then runs the tests or the example.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: ./build.sh COMMAND [ARGS...]

  build           install missing dependencies, configure build/, build
  test [ARGS]     build, then meson test -C build --print-errorlogs [ARGS]
                  (ARGS may name suites, e.g. ./build.sh test gguf)
  run [LLM ARGS]  build, fetch the default model (models/get-model.sh), run
                  build/examples/llm -m MODEL -n 256 [LLM ARGS]
                  e.g. ./build.sh run -p "Once upon a time"
  sanitize [ARGS] like test, in build-asan/ (debug, address+undefined sanitizers,
                  and fault injection: the faults suite fails every allocation)
  valgrind [ARGS] the C suites (meson suite 'unit') under valgrind memcheck, in
                  build-vg/ (-O2 -g), with LLM_TEST_QUICK=1 trimming the longest
                  loops; fails on any invalid access or leak
  tsan [ARGS]     the threads suite (8 contexts on one model), the multi
                  suite (llm_decode_multi on 2 threads) and the server suite
                  (its slots' stepper thread) under ThreadSanitizer, in
                  build-tsan/ (ARGS: other suites)
  -h, --help      this text

Missing packages are installed with apt-get (as root, or through sudo):
  meson ninja-build pkg-config gcc libopenblas-dev libcmocka-dev libcjson-dev libpcre2-dev
  libmicrohttpd-dev libutf8proc-dev
(valgrind additionally needs valgrind; the server's page test installs chromium
itself when it can, and is skipped without it).
EOF
}

cd "$(dirname "${BASH_SOURCE[0]}")"

die() { echo "build.sh: $*" >&2; exit 1; }

# package:command pairs; a package with a command counts as present when the
# command is on PATH (however it was installed), libraries when dpkg has them.
DEPS=(meson:meson ninja-build:ninja pkg-config:pkg-config gcc:gcc
      libopenblas-dev: libcmocka-dev: libcjson-dev: libpcre2-dev: libmicrohttpd-dev: libutf8proc-dev:)

# Installs the packages of DEPS that are missing, with one apt-get update and
# one apt-get install, and does nothing at all when everything is present.
ensure_deps() {
    local missing=() dep pkg cmd have_dpkg=0
    command -v dpkg >/dev/null 2>&1 && have_dpkg=1
    for dep in "${DEPS[@]}"; do
        pkg=${dep%%:*} cmd=${dep#*:}
        if [ -n "$cmd" ]; then
            command -v "$cmd" >/dev/null 2>&1 && continue
        elif [ $have_dpkg = 0 ] ||
             dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
            continue # without dpkg, meson reports a missing library itself
        fi
        missing+=("$pkg")
    done
    [ ${#missing[@]} = 0 ] && return 0

    command -v apt-get >/dev/null 2>&1 ||
        die "missing ${missing[*]}, and there is no apt-get: install them by hand"
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 ||
            die "missing ${missing[*]}: run as root or install sudo"
        sudo=(sudo)
    fi
    echo "build.sh: installing ${missing[*]}" >&2
    "${sudo[@]}" apt-get update
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
}

# Configures DIR (with the given meson options) unless it already is, then
# builds it. A configured directory re-runs meson by itself when a
# meson.build changes, and a setup that failed leaves nothing that stops
# the next one.
build_in() {
    local dir=$1
    shift
    [ -f "$dir/build.ninja" ] || meson setup "$dir" "$@"
    ninja -C "$dir"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
    build)
        [ $# = 0 ] || die "build takes no arguments"
        ensure_deps
        build_in build
        ;;
    test)
        ensure_deps
        build_in build
        exec meson test -C build --print-errorlogs "$@"
        ;;
    run)
        ensure_deps
        build_in build
        model=$(models/get-model.sh)
        exec build/examples/llm -m "$model" -n 256 "$@"
        ;;
    sanitize)
        ensure_deps
        build_in build-asan -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
            -Dfault_injection=true
        # UBSan only reports by default; make a report fail the test.
        export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
        exec meson test -C build-asan --print-errorlogs "$@"
        ;;
    valgrind)
        DEPS+=(valgrind:valgrind)
        ensure_deps
        # Optimized (with debug info): at -O0 the forward pass alone would
        # take most of the step's budget under valgrind.
        build_in build-vg -Dbuildtype=debugoptimized
        # Suites shrink their longest loops (fewer thread counts, shorter
        # texts and golden cases: see test_quick in tests/testutil.h).
        export LLM_TEST_QUICK=1
        exec meson test -C build-vg --print-errorlogs --suite unit --timeout-multiplier 4 \
            --wrapper 'valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect --track-origins=no -q' "$@"
        ;;
    tsan)
        ensure_deps
        build_in build-tsan -Dbuildtype=debug -Db_sanitize=thread -Db_lundef=false
        # tests/tsan.supp: OpenBLAS's own threads, which TSan cannot follow.
        export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp}
        [ $# -gt 0 ] || set -- threads multi server
        exec meson test -C build-tsan --print-errorlogs "$@"
        ;;
    -h | --help | help)
        usage
        ;;
    *)
        usage >&2
        exit 2
        ;;
esac
