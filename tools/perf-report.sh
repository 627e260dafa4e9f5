#!/bin/sh
# usage: tools/perf-report.sh [REPO_ROOT]
#
# Builds libllm (release), benchmarks a random-weight TinyLlama 1.1B in
# F16, Q8_0, Q4_0 and the K-quant mixtures Q4_K_M and Q5_K_M (2 threads,
# pp512/tg128) and stories260K (1 thread, pp128/tg256) with llm-bench, and writes docs/PERFORMANCE.md with the
# results beside llama.cpp's figures; on the Q8_0 file also the speed-up of
# scoring a text with per-position logits and the abort latency. The synthetic models (2.2 GB for
# F16) are written once into a cache directory outside the repository and
# reused.
#
# Environment:
#   LLM_BENCH_DIR    model cache and raw results (default /tmp/libllm-bench)
#   LLM_BENCH_BUILD  build directory (default REPO_ROOT/build-perf)
#   LLM_BENCH_REPS   repetitions of each test (default 3)
#   LLM_BENCH_P, LLM_BENCH_N   TinyLlama prompt / generated tokens (512 / 128)
#   LLM_BENCH_NOTE   a sentence added to the report (e.g. why -r is 1)
#   LLM_TEST_MODELS  fixtures (default REPO_ROOT/../shared/models)
set -eu

root=$(cd "${1:-$(dirname "$0")/..}" && pwd)
build=${LLM_BENCH_BUILD:-$root/build-perf}
cache=${LLM_BENCH_DIR:-/tmp/libllm-bench}
models=${LLM_TEST_MODELS:-$root/../shared/models}
reps=${LLM_BENCH_REPS:-3}
p=${LLM_BENCH_P:-512}
n=${LLM_BENCH_N:-128}
out=$root/docs/PERFORMANCE.md

[ -f "$build/build.ninja" ] || meson setup "$build" "$root" --buildtype=release
ninja -C "$build" tools/llm-bench tools/llm-synth
mkdir -p "$cache"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# The value of a numeric JSON field in the one-line object in file $1.
field() { sed -n "s/.*\"$2\": \([^,}]*\).*/\1/p" "$1"; }

# Runs llm-bench; NAME.json holds the result, NAME.err the error if any.
bench() { # NAME ARGS...
    name=$1
    shift
    echo "perf-report: llm-bench $*" >&2
    start=$(date +%s)
    if "$build/tools/llm-bench" "$@" --json >"$cache/$name.json" 2>"$cache/$name.err"; then
        echo "perf-report: $name took $(($(date +%s) - start)) s" >&2
    else
        rm -f "$cache/$name.json"
        echo "perf-report: $name failed: $(cat "$cache/$name.err")" >&2
    fi
}

for type in f16 q8_0 q4_0; do
    model=$cache/tinyllama-1.1B-$type.gguf
    if [ ! -f "$model" ]; then
        echo "perf-report: writing $model" >&2
        "$build/tools/llm-synth" --shape tinyllama-1.1B --type $type \
            --vocab "$models/vocab/ggml-vocab-llama-spm.gguf" -o "$model"
    fi
    bench tinyllama-$type -m "$model" -t 2 -p "$p" -n "$n" -r "$reps"
done
# The K-quant mixtures, as people download them: llm-quantize of the F16 file.
ninja -C "$build" tools/llm-quantize
for type in q4_k_m q5_k_m; do
    model=$cache/tinyllama-1.1B-$type.gguf
    if [ ! -f "$model" ]; then
        echo "perf-report: writing $model" >&2
        "$build/tools/llm-quantize" "$cache/tinyllama-1.1B-f16.gguf" "$model" $type >/dev/null
    fi
    bench tinyllama-$type -m "$model" -t 2 -p "$p" -n "$n" -r "$reps"
done
# The other families at the sizes people run (issue 15), Q4_0, with the
# SentencePiece vocabulary of Llama (32000 tokens) in place of their own.
for shape in qwen3-0.6B gemma-3-1B phi-3.5-mini; do
    model=$cache/$shape-q4_0.gguf
    if [ ! -f "$model" ]; then
        echo "perf-report: writing $model" >&2
        "$build/tools/llm-synth" --shape $shape --type q4_0 \
            --vocab "$models/vocab/ggml-vocab-llama-spm.gguf" -o "$model"
    fi
    bench $shape -m "$model" -t 2 -p "$p" -n "$n" -r "$reps"
done
bench stories260K -m "$models/stories260K.gguf" -t 1 -p 128 -n 256 -r "$reps"

# The embedder's figures on the Q8_0 file: a text scored with every
# position's logits from one decode per chunk, against one decode per
# token; and how soon a 2048-token prompt returns after an abort request.
ninja -C "$build" tools/llm-perplexity
q8=$cache/tinyllama-1.1B-q8_0.gguf
cat "$models"/../golden/stories260K/*.txt >"$cache/ppl-text.txt"
ppl_time() { # NAME ARGS...: NAME.secs, the evaluation's seconds (llm-perplexity's stderr)
    name=$1
    shift
    echo "perf-report: llm-perplexity $*" >&2
    if "$build/tools/llm-perplexity" -m "$q8" -f "$cache/ppl-text.txt" -c 128 -t 2 "$@" >/dev/null 2>"$cache/$name.err"; then
        sed -n 's/^evaluated .* in \([0-9.]*\) s.*/\1/p' "$cache/$name.err" >"$cache/$name.secs"
    else
        rm -f "$cache/$name.secs"
    fi
}
ppl_time ppl-batch
ppl_time ppl-per-token --per-token
bench abort -m "$q8" --abort-after 2000 -p 2048 -t 2 -r "$reps"

# One table row: NAME, then the llama.cpp reference cells.
row() { # NAME LABEL REF_PP REF_TG
    json=$cache/$1.json
    if [ ! -f "$json" ]; then
        echo "| $2 | failed: $(tr '\n|' '  ' <"$cache/$1.err") | | | | | | $3 | $4 |"
        return
    fi
    awk -v label="$2" -v ref_pp="$3" -v ref_tg="$4" \
        -v size="$(field "$json" size_bytes)" -v pp="$(field "$json" pp_tps_mean)" \
        -v pps="$(field "$json" pp_tps_std)" -v tg="$(field "$json" tg_tps_mean)" \
        -v tgs="$(field "$json" tg_tps_std)" -v bw="$(field "$json" bandwidth_gbs)" \
        -v frac="$(field "$json" tg_bandwidth_fraction)" -v rss="$(field "$json" peak_rss_bytes)" \
        -v load="$(field "$json" load_ms)" 'BEGIN {
        printf "| %s | %.0f | %.2f ± %.2f | %.2f ± %.2f | %.1f | %.0f%% | %.0f | %.1f | %s | %s |\n",
               label, size / 1048576, pp, pps, tg, tgs, bw, 100 * frac, rss / 1048576, load, ref_pp, ref_tg
    }'
}

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
{
    echo "# Performance"
    echo
    echo "Generated by \`tools/perf-report.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') at commit $commit"
    echo "(plus any uncommitted changes). Do not edit by hand: run the script again."
    echo
    echo "- CPU: ${cpu:-unknown}, $(nproc) online CPUs"
    echo "- Memory: $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "- Compiler: $(cc --version | head -n 1)"
    echo "- Load average (1, 5, 15 min) before the runs: $load_before; after: $load_after."
    echo "  Anything above 0 is other work competing for the CPUs and memory bus, and"
    echo "  shows up as a large standard deviation."
    echo
    echo "## Method"
    echo
    echo "\`llm-bench\` (public API only) measures, as llama.cpp's \`llama-bench\` does:"
    echo
    echo "- **pp**: one \`llm_decode\` of P random token ids into an emptied context, tokens/s;"
    echo "- **tg**: N single-token decodes from an empty context, each fed the greedy"
    echo "  choice of the previous step, tokens/s."
    echo
    echo "Each test runs $reps time(s) after one untimed pp run (all runs share one context); the table shows"
    echo "mean ± standard deviation. TinyLlama 1.1B rows use 2 threads, pp$p and tg$n, on"
    echo "random weights written by \`llm-synth --shape tinyllama-1.1B\` (same shapes and"
    echo "speed as the real model; Q4_0 keeps its output head in Q8_0 as llama.cpp's"
    echo "quantizer does; Q4_K_M and Q5_K_M are \`llm-quantize\` mixtures of the F16 file,"
    echo "see README). The Qwen3, Gemma 3 and Phi-3.5 rows are \`llm-synth\` shapes in Q4_0 with"
    echo "Llama's 32000-token vocabulary (their own are larger), same threads and tests."
    echo "stories260K uses 1 thread, pp128 and tg256."
    echo
    echo "Prompts (pp) run on the batched products: integer VNNI products for the"
    echo "quantized types (lib/gemm_vnni.c) and bf16 products for F16 (lib/gemm_bf16.c:"
    echo "weights and activations rounded to bf16; on stories260K converted to F16,"
    echo "mean KL divergence from F32 0.000005 against 0.0000004 with exact products)."
    echo "Generation (tg) runs on the exact dot products."
    echo
    echo "*bandwidth* is \`llm-bench\`'s own memory read probe (the same thread count"
    echo "summing 64-bit words over a buffer of max(1 GiB, 4 x LLC), best of 5, run"
    echo "before and after each model's tests, the larger counting); *tg/bw*"
    echo "is the fraction of it that generation achieves, counting the whole model file"
    echo "as read once per token. *RSS* is the peak resident set (mapped weights"
    echo "included); *load* is \`llm_model_load\`'s time with the file in the page cache."
    if [ -n "${LLM_BENCH_NOTE:-}" ]; then
        echo
        echo "Note: $LLM_BENCH_NOTE"
    fi
    echo
    echo "## Results"
    echo
    echo "| model | size MiB | pp t/s | tg t/s | bandwidth GB/s | tg/bw | RSS MiB | load ms | llama.cpp pp | llama.cpp tg |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    row tinyllama-f16 "TinyLlama 1.1B F16" 76 10.7
    row tinyllama-q8_0 "TinyLlama 1.1B Q8_0" 65 11.6
    row tinyllama-q4_0 "TinyLlama 1.1B Q4_0" 91 16.2
    row tinyllama-q4_k_m "TinyLlama 1.1B Q4_K_M" 83 16.7
    row tinyllama-q5_k_m "TinyLlama 1.1B Q5_K_M" "" ""
    row qwen3-0.6B "Qwen3-0.6B shape Q4_0" "" ""
    row gemma-3-1B "Gemma-3-1B shape Q4_0" "" ""
    row phi-3.5-mini "Phi-3.5-mini shape Q4_0" "" ""
    row stories260K "stories260K F32 (1 thread)" "" "1450 (llama2.c: ~5500)"
    echo
    echo "The llama.cpp columns are the reference figures quoted in the performance"
    echo "and K-quant issues (llama-bench pp512 / tg128, 2 threads, on a Xeon with"
    echo "AVX-512 VNNI; none given for Q5_K_M; stories260K tg with 1 thread, where"
    echo "llama2.c's run.c reaches about 5500 t/s)."
    echo
    echo "## Scoring a text, stopping a prompt"
    echo
    echo "On TinyLlama 1.1B Q8_0, 2 threads: \`llm-perplexity -c 128\` over the golden"
    echo "stories, scoring the second half of each chunk with the logits of every"
    echo "position from one \`llm_decode_ex\` per chunk, against \`--per-token\` (one"
    echo "decode per token, the only way before per-position logits); and"
    echo "\`llm-bench --abort-after 2000 -p 2048\`: the time from an abort request, 2 s"
    echo "into a 2048-token prompt, to \`llm_decode\` returning \`LLM_ERR_ABORTED\`."
    echo
    if [ -s "$cache/ppl-batch.secs" ] && [ -s "$cache/ppl-per-token.secs" ]; then
        awk -v b="$(cat "$cache/ppl-batch.secs")" -v t="$(cat "$cache/ppl-per-token.secs")" \
            'BEGIN { printf "- scoring: %.2f s per-position logits, %.2f s one decode per token: %.1fx\n", b, t, t / b }'
    else
        echo "- scoring: failed: $(cat "$cache/ppl-batch.err" "$cache/ppl-per-token.err" 2>/dev/null | tr '\n' ' ')"
    fi
    if [ -f "$cache/abort.json" ]; then
        awk -v m="$(field "$cache/abort.json" latency_ms)" -v s="$(field "$cache/abort.json" latency_ms_std)" \
            -v x="$(field "$cache/abort.json" latency_ms_max)" \
            'BEGIN { printf "- abort: returned %.1f ± %.1f ms after the request (max %.1f)\n", m, s, x }'
    else
        echo "- abort: failed: $(tr '\n' ' ' <"$cache/abort.err")"
    fi
} >"$tmp"
chmod 644 "$tmp"
mv "$tmp" "$out"
trap - EXIT
echo "perf-report: wrote $out" >&2
