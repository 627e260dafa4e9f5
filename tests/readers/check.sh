#!/bin/sh
# usage: check.sh SRC_DIR BUILD_DIR GGUF_JSON LLM_SYNTH LLM_QUANTIZE MODELS NPM_CI
# Do GGUF files written by llm-synth and llm-quantize open in another GGUF
# reader? Writes files of every type the tools offer into a temporary
# directory and has check.mjs read each with Hugging Face's
# @huggingface/gguf (pinned by package-lock.json, installed with npm into
# BUILD_DIR) against libllm's own reading (gguf-json). Skips (77) without
# node and npm, or when npm cannot reach the registry for the first install.
set -eu
src=$1 build=$2 gguf_json=$3 synth=$4 quantize=$5
models=${LLM_TEST_MODELS:-$6}
npm_ci=$7  # tests/npm-ci.sh

fail() { echo "FAIL: $*"; exit 1; }

# npm ci into BUILD_DIR/npm, again only when the lock changed.
npm_dir=$build/npm
rc=0
sh "$npm_ci" "$src" "$npm_dir" @huggingface/gguf || rc=$?
[ $rc = 0 ] || exit $rc
cp "$src/check.mjs" "$npm_dir/"  # beside node_modules, where its import resolves

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
vocab=$models/stories260K.gguf  # 512 tokens keeps the synthetic files small

quant() { # IN OUT TYPE
    "$quantize" "$1" "$2" "$3" 2>"$dir/err" || { cat "$dir/err"; fail "llm-quantize $3"; }
}
synth() { # SHAPE TYPE OUT
    "$synth" --shape "$1" --type "$2" --vocab "$vocab" -o "$3" >/dev/null 2>"$dir/err" ||
        { cat "$dir/err"; fail "llm-synth --shape $1 --type $2"; }
}

# stories260K's rows (64, 172) fit no 256-block: k types fall back to f16.
files=
for t in q8_0 q4_0 q4_k q5_k q6_k q4_k_m q5_k_m f16 bf16; do
    quant "$models/stories260K.gguf" "$dir/stories260K-$t.gguf" "$t"
    files="$files $dir/stories260K-$t.gguf"
done
quant "$dir/stories260K-q4_0.gguf" "$dir/stories260K-f32.gguf" f32
files="$files $dir/stories260K-f32.gguf"

# stories15M's ffn_down rows (768) are whole 256-blocks: real k-quants.
synth stories15M f16 "$dir/s15M-f16.gguf"
files="$files $dir/s15M-f16.gguf:F16"
for tw in q4_k:Q4_K q5_k:Q5_K q6_k:Q6_K q4_k_m:Q4_K,Q6_K q5_k_m:Q5_K,Q6_K; do
    t=${tw%%:*}
    quant "$dir/s15M-f16.gguf" "$dir/s15M-$t.gguf" "$t"
    files="$files $dir/s15M-$t.gguf:${tw#*:}"
done

# llm-synth's own types, and the shapes with biases or rope_freqs.
for tw in f32:F32 f16:F16 bf16:BF16 q8_0:Q8_0 q4_0:Q4_0,Q8_0; do
    t=${tw%%:*}
    synth tiny "$t" "$dir/tiny-$t.gguf"
    files="$files $dir/tiny-$t.gguf:${tw#*:}"
done
synth tiny-qwen2 q8_0 "$dir/tiny-qwen2.gguf"
synth tiny-llama3 q4_0 "$dir/tiny-llama3.gguf"
files="$files $dir/tiny-qwen2.gguf $dir/tiny-llama3.gguf"

for f in $files; do
    path=${f%%:*}
    "$gguf_json" "$path" >"$path.json" || fail "libllm cannot read $path"
done
# shellcheck disable=SC2086 # one argument per file
node "$npm_dir/check.mjs" $files
