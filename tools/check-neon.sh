#!/bin/sh
# Checks the NEON kernel set against the scalar reference on a machine
# that need not be aarch64: cross-compiles lib/compute/kernels/neon.c with the
# scalar set and tests/neon_check.c, and runs the result under
# qemu-aarch64 (natively on aarch64). Two builds: with the DotProd
# extension (sdot) and for the armv8-a baseline (widening multiplies).
#
# usage: check-neon.sh [source root]
# Exit 0: passed, 1: failed, 77: cross tools unavailable (a skip to meson).
# Missing tools are installed with apt-get when running as root.
set -u

root=${1:-$(dirname "$0")/..}
sysroot=/usr/aarch64-linux-gnu

if [ "$(uname -m)" = aarch64 ]; then
    cc=${CC:-cc}
    run() { "$@"; }
else
    cc=aarch64-linux-gnu-gcc
    run() { qemu-aarch64 -L "$sysroot" "$@"; }
    have_tools() {
        command -v "$cc" >/dev/null 2>&1 && command -v qemu-aarch64 >/dev/null 2>&1 &&
            [ -e "$sysroot/lib/ld-linux-aarch64.so.1" ]
    }
    if ! have_tools && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "check-neon: installing the aarch64 cross compiler and qemu-user"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user >/dev/null 2>&1
    fi
    if ! have_tools; then
        echo "check-neon: SKIP: needs $cc, qemu-aarch64 and an aarch64 libc in $sysroot" \
             "(apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)"
        exit 77
    fi
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

status=0
for march in armv8.2-a+dotprod+fp16 armv8-a; do
    exe="$tmp/neon_check-$march"
    if ! "$cc" -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -ffp-contract=off -march="$march" \
            -I "$root/include" -I "$root/lib/compute" -I "$root/lib/base" \
            -o "$exe" "$root/tests/neon_check.c" "$root/lib/compute/kernels/neon.c" \
            "$root/lib/compute/kernels/scalar.c" "$root/lib/compute/quant.c" "$root/lib/compute/dtype.c" -lm; then
        echo "check-neon: FAIL: compiling for -march=$march"
        status=1
        continue
    fi
    if ! run "$exe"; then
        echo "check-neon: FAIL: -march=$march"
        status=1
    fi
done
[ $status = 0 ] && echo "check-neon: PASS"
exit $status
