#!/bin/sh
# usage: test_tools.sh BUILD_ROOT MODELS
# llm-synth writes the `tiny` shape in every type; each file must load and
# generate with the llm example, with the type and vocabulary asked for.
# llm-bench must run on one and print every JSON field, in both modes.
set -eu
build=$1
models=${LLM_TEST_MODELS:-$2}
vocab=$models/vocab/ggml-vocab-llama-spm.gguf
synth=$build/tools/llm-synth
bench=$build/tools/llm-bench
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

fail() { echo "FAIL: $*"; exit 1; }

for type in f32 f16 bf16 q8_0 q4_0; do
    model=$dir/tiny-$type.gguf
    "$synth" --shape tiny --type $type --vocab "$vocab" -o "$model" || fail "llm-synth --type $type"
    "$build/examples/llm" -m "$model" -n 8 --seed 1 -v >"$dir/out" 2>"$dir/err" ||
        { cat "$dir/err"; fail "llm cannot generate with the $type model"; }
    upper=$(echo $type | tr '[:lower:]' '[:upper:]')
    grep -q "llama, $upper, dim 64, ffn 128, 2 layers, 4 heads (2 kv), vocab 32000" "$dir/err" ||
        { cat "$dir/err"; fail "the $type model does not describe itself as expected"; }
    echo "ok: tiny $type loads and generates"
done

# The Llama 3 family's features with a byte-level BPE vocabulary: Llama
# 3.1 RoPE factors (tiny-llama3), qwen2's biases and NeoX RoPE (tiny-qwen2),
# tied embeddings in both, and one real shape (smollm2-135M, 30 layers).
bpe=$models/vocab/ggml-vocab-gpt-2.gguf
for shape in tiny-llama3:llama tiny-qwen2:qwen2 smollm2-135M:llama; do
    name=${shape%%:*} arch=${shape#*:}
    model=$dir/$name.gguf
    "$synth" --shape $name --type q4_0 --vocab "$bpe" -o "$model" || fail "llm-synth --shape $name"
    "$build/examples/llm" -m "$model" -p "Hello world" -n 8 --seed 1 -v >"$dir/out" 2>"$dir/err" ||
        { cat "$dir/err"; fail "llm cannot generate with $name"; }
    grep -q "^$arch, Q4_0, .*vocab 50257" "$dir/err" || grep -q "llm: $arch, Q4_0, .*vocab 50257" "$dir/err" ||
        { cat "$dir/err"; fail "$name does not describe itself as expected"; }
    grep -q "^Hello world" "$dir/out" || fail "$name did not echo its prompt"
    rm -f "$model"
    echo "ok: $name loads and generates"
done

# The seed alone decides the weights.
"$synth" --shape tiny --type f16 --vocab "$vocab" -o "$dir/again.gguf"
cmp -s "$dir/tiny-f16.gguf" "$dir/again.gguf" || fail "the same seed gave a different file"
"$synth" --shape tiny --type f16 --vocab "$vocab" -o "$dir/seed2.gguf" --seed 2
cmp -s "$dir/tiny-f16.gguf" "$dir/seed2.gguf" && fail "another seed gave the same file"
if "$synth" --shape huge --type f16 --vocab "$vocab" -o "$dir/x.gguf" 2>"$dir/err"; then
    fail "llm-synth accepted an unknown shape"
fi
grep -q "unknown shape 'huge'" "$dir/err" || fail "no message for an unknown shape"
echo "ok: llm-synth seeds and arguments"

check_json() { # FILE KEY...
    json=$1
    shift
    [ "$(wc -l <"$json")" -eq 1 ] || fail "llm-bench --json printed more than one line"
    grep -q '^{.*}$' "$json" || fail "llm-bench --json printed no object: $(cat "$json")"
    for key in "$@"; do
        grep -q "\"$key\": " "$json" || fail "llm-bench --json lacks $key: $(cat "$json")"
    done
}

"$bench" -m "$dir/tiny-f32.gguf" -t 2 -p 8 -n 8 -r 1 --json >"$dir/bench.json"
check_json "$dir/bench.json" model size_bytes threads pp_tokens tg_tokens pp_tps_mean pp_tps_std \
    tg_tps_mean tg_tps_std bandwidth_gbs tg_bandwidth_fraction peak_rss_bytes load_ms kernels \
    peak_int8_gops peak_bf16_gflops peak_f32_gflops pp_peak_kind pp_peak_fraction kv_bytes
grep -q '"pp_tokens": 8, "tg_tokens": 8' "$dir/bench.json" || fail "wrong token counts: $(cat "$dir/bench.json")"
grep -q '"kv_bytes": 0[,}]' "$dir/bench.json" && fail "no KV cache size: $(cat "$dir/bench.json")"
# F32 weights meet the FMA peak, which every SIMD set has a probe for
grep -q '"pp_peak_kind": "f32"' "$dir/bench.json" || fail "F32 weights not held to the f32 peak: $(cat "$dir/bench.json")"
case $(cat "$dir/bench.json") in
*'"kernels": "avx512"'* | *'"kernels": "avx2"'*)
    grep -q '"peak_f32_gflops": 0.0,' "$dir/bench.json" && fail "no f32 peak for a SIMD set: $(cat "$dir/bench.json")"
    grep -q '"pp_peak_fraction": 0.0000' "$dir/bench.json" && fail "no pp fraction of the peak: $(cat "$dir/bench.json")" ;;
esac
echo "ok: llm-bench --json"

"$bench" -m "$dir/tiny-f32.gguf" --tok-bench "$models/../golden/stories260K/beach-128.txt" -r 2 --json \
    >"$dir/tok.json"
check_json "$dir/tok.json" model file bytes tokens tok_mbs_mean tok_mbs_std
echo "ok: llm-bench --tok-bench"
