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

# Only libllm's own include directory, and no private dependency's.
cflags=$(PKG_CONFIG_PATH="$pc" PKG_CONFIG_SYSROOT_DIR="$tmp/root" pkg-config --cflags libllm libllm-convert)
for f in $cflags; do
    case $f in -I"$tmp"/root/*/include) ;; *) echo "unexpected cflag '$f'"; exit 1 ;; esac
done
# The runtime library does without cJSON; the conversion library has it.
if readelf -d "$libdir/libllm.so" | grep -q cjson; then echo "libllm.so links cJSON"; exit 1; fi
readelf -d "$libdir/libllm-convert.so" | grep -q cjson || { echo "libllm-convert.so lacks cJSON"; exit 1; }
echo "ok: pkg-config flags, libllm without cJSON"

# Installed programs run as they are, without LD_LIBRARY_PATH.
bindir=$(dirname "$(find "$tmp/root" -name llm -type f | head -n 1)")
env -u LD_LIBRARY_PATH "$bindir/llm" -m "$models/stories260K.gguf" -n 8 --temp 0 2>/dev/null | grep -q "Once upon a time"
env -u LD_LIBRARY_PATH "$bindir/llm-quantize" --help >/dev/null
env -u LD_LIBRARY_PATH "$bindir/llm-inspect" info "$models/stories260K.gguf" | grep -q "^n_embd  *64$"
echo "ok: installed tools run"

# A C program converts and quantizes through libllm-convert.
cat > "$tmp/conv.c" <<'C'
#include <llm_convert.h>
#include <stdio.h>
int main(int argc, char **argv) {
    llm_error err;
    llm_convert_params cp = llm_convert_default_params();
    cp.type = LLM_TYPE_F16;
    if (llm_convert_llama2c(argv[1], argv[2], argv[3], &cp, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    llm_quantize_params qp = llm_quantize_default_params();
    if (llm_quantize_file(argv[3], argv[4], &qp, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    llm_model *m = llm_model_load(argv[4], NULL, &err);
    if (!m) { fprintf(stderr, "%s\n", err.msg); return 1; }
    char desc[256];
    llm_model_desc(m, desc, sizeof desc, NULL);
    puts(desc);
    llm_model_free(m);
    return 0;
}
C
flags=$(PKG_CONFIG_PATH="$pc" PKG_CONFIG_SYSROOT_DIR="$tmp/root" pkg-config --cflags --libs libllm-convert libllm)
cc -o "$tmp/conv" "$tmp/conv.c" $flags
LD_LIBRARY_PATH="$libdir" "$tmp/conv" "$models/stories260K.bin" "$models/tok512.bin" "$tmp/f16.gguf" "$tmp/q8.gguf" | grep -q "Q8_0"
echo "ok: a C program converts and quantizes"

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
