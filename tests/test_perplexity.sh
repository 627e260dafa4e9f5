#!/bin/sh
# llm-perplexity on the golden stories (cat stories260K/*.txt in name order,
# 128-token chunks): stories260K F32 must score llama.cpp's 2.2386, a model
# compared with itself (or with the same weights in llama2.c format) must
# show no divergence, the quantized models must stay near the F32 one, and
# the K-quant mixtures nearer their F16 source than Q4_0.
set -eu
ppl=$1
models=${LLM_TEST_MODELS:-$2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
LC_ALL=C
export LC_ALL
cat "$models"/../golden/stories260K/*.txt > "$tmp/text"
fail=0

# Runs the tool with --json; the object goes to $tmp/out, messages to $tmp/err.
run() { "$ppl" -f "$tmp/text" --json "$@" > "$tmp/out" 2> "$tmp/err"; }
field() { sed -n "s/.*\"$1\": \([^,}]*\).*/\1/p" "$tmp/out"; }
# expect NAME FIELD LO HI: the field lies in [LO, HI].
expect() {
  v=$(field "$2")
  if awk -v v="$v" -v lo="$3" -v hi="$4" 'BEGIN { exit !(v != "" && v >= lo && v <= hi) }'; then
    echo "ok: $1 $2 = $v"
  else
    echo "FAIL: $1 $2 = '$v', want [$3, $4]"; fail=1
  fi
}

run -m "$models/stories260K.gguf" || { cat "$tmp/err"; exit 1; }
expect F32 perplexity 2.230 2.247
expect F32 scored 504 504

run -m "$models/stories260K.gguf" --kl-base "$models/stories260K.gguf" || { cat "$tmp/err"; exit 1; }
expect F32-vs-itself mean_kl 0 0
expect F32-vs-itself same_top 1 1
expect F32-vs-itself perplexity_ratio 1 1

run -m "$models/stories260K.bin" -z "$models/tok512.bin" --kl-base "$models/stories260K.gguf" \
  || { cat "$tmp/err"; exit 1; }
expect bin-vs-gguf mean_kl 0 1e-9
expect bin-vs-gguf same_top 1 1
expect bin-vs-gguf perplexity 2.230 2.247

# Refusals: a vocabulary that tokenizes differently, a text too short.
if run -m "$models/llama-2-tiny-random.gguf" --kl-base "$models/stories260K.gguf"; then
  echo "FAIL: models with different vocabularies were compared"; fail=1
else
  echo "ok: refused: $(cat "$tmp/err")"
fi
if "$ppl" -m "$models/stories260K.gguf" -f "$tmp/text" -c 1024 > "$tmp/out" 2> "$tmp/err"; then
  echo "FAIL: a text shorter than two chunks was accepted"; fail=1
else
  echo "ok: refused: $(cat "$tmp/err")"
fi

# expect_quant NAME FILE MAX_KL MIN_TOP: KL and top-token agreement against F32.
expect_quant() {
  if run -m "$models/$2" --kl-base "$models/stories260K.gguf"; then
    expect "$1" mean_kl 0 "$3"
    expect "$1" same_top "$4" 1
    echo "   $1 perplexity ratio $(field perplexity_ratio)"
  else
    echo "FAIL: $1: $(cat "$tmp/err")"; fail=1
  fi
}
expect_quant Q8_0 stories260K-q8_0.gguf 0.0006 0.99
expect_quant Q4_0 stories260K-q4_0.gguf 0.03 0.90

# The K-quant mixtures must agree with their F16 source better than Q4_0
# does (lower mean KL), on a random-weight model whose rows fit blocks of
# 256 (llm-synth tiny-256 with stories260K's vocabulary).
synth=$3
quantize=$4
"$synth" --shape tiny-256 --type f16 --vocab "$models/stories260K.gguf" -o "$tmp/f16.gguf" > /dev/null
for t in q4_0 q4_k_m q5_k_m; do
  "$quantize" "$tmp/f16.gguf" "$tmp/$t.gguf" $t > /dev/null 2>&1 || { echo "FAIL: llm-quantize $t"; exit 1; }
  run -m "$tmp/$t.gguf" --kl-base "$tmp/f16.gguf" || { cat "$tmp/err"; exit 1; }
  eval "kl_$t=$(field mean_kl)"
  echo "   $t mean KL from F16 $(field mean_kl)"
done
if awk -v a="$kl_q4_0" -v b="$kl_q4_k_m" -v c="$kl_q5_k_m" 'BEGIN { exit !(c < b && b < a) }'; then
  echo "ok: mean KL Q5_K_M < Q4_K_M < Q4_0"
else
  echo "FAIL: mean KL Q4_0 $kl_q4_0, Q4_K_M $kl_q4_k_m, Q5_K_M $kl_q5_k_m: want the mixtures lower"; fail=1
fi
exit $fail
