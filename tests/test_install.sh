#!/bin/sh
# libllm as its users consume it: installed and found with pkg-config, and
# as a meson subproject through dependency('libllm'). Each builds the
# README's example program and runs it on the default model.
set -eu
src=$1 build=$2
models=${LLM_TEST_MODELS:-$3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

meson install -C "$build" --destdir "$tmp/root" --no-rebuild --quiet >/dev/null
pc=$(dirname "$(find "$tmp/root" -name libllm.pc | head -n 1)")
[ -n "$pc" ] || { echo "no libllm.pc installed"; exit 1; }
flags=$(PKG_CONFIG_PATH="$pc" PKG_CONFIG_SYSROOT_DIR="$tmp/root" pkg-config --cflags --libs libllm)
cc -o "$tmp/simple" "$src/examples/simple.c" $flags
libdir=$(dirname "$(find "$tmp/root" -name 'libllm.so' | head -n 1)")
LD_LIBRARY_PATH="$libdir" "$tmp/simple" "$models/stories260K.gguf" | grep -q "Once upon a time"
echo "ok: pkg-config build runs"

mkdir -p "$tmp/app/subprojects"
ln -s "$(cd "$src" && pwd)" "$tmp/app/subprojects/libllm"
cp "$src/examples/simple.c" "$tmp/app/"
cat > "$tmp/app/meson.build" <<'MESON'
project('app', 'c')
executable('simple', 'simple.c', dependencies : dependency('libllm', allow_fallback : true))
MESON
meson setup "$tmp/app/build" "$tmp/app" -Dlibllm:tests=false >/dev/null
ninja -C "$tmp/app/build" >/dev/null
"$tmp/app/build/simple" "$models/stories260K.gguf" | grep -q "Once upon a time"
echo "ok: subproject build runs"
