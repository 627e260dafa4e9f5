#!/bin/sh
# usage: test_template.sh BUILD_ROOT MODELS
# llm-template on golden chat cases: the printed bytes equal the expected
# file's, a raising template prints its message and exits 1, content given
# as parts renders as the string, errors name the option.
set -eu
tool=$1/tools/llm-template
models=${LLM_TEST_MODELS:-$2}
golden=$models/../golden/chat
[ -d "$golden" ] || { echo "SKIP: no $golden"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

fail() { echo "FAIL: $*"; exit 1; }

cat >"$dir/c02.json" <<'JSON'
[{"role": "system", "content": "You are a concise assistant. Answer in one sentence."}, {"role": "user", "content": "Why is the sky blue?"}]
JSON
cat >"$dir/c02-parts.json" <<'JSON'
[{"role": "system", "content": [{"type": "text", "text": "You are a concise assistant. "}, {"type": "text", "text": "Answer in one sentence."}]},
 {"role": "user", "content": "Why is the sky blue?"}]
JSON
cat >"$dir/c04.json" <<'JSON'
[{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Name a primary colour."}, {"role": "assistant", "content": "Red."}]
JSON
cat >"$dir/c09.json" <<'JSON'
[{"role": "user", "content": "First part of my question."}, {"role": "user", "content": "Second part of my question."}]
JSON

# same BYTES AS FILE: compares the tool's output with an expected file
same() { cmp -s "$1" "$2" || fail "$3: output differs from $2"; echo "ok: $3"; }

"$tool" --template "$golden/templates/llama3.2.jinja" --messages "$dir/c02.json" \
    --bos '<|begin_of_text|>' --eos '<|eot_id|>' --date 2025-01-05 >"$dir/out" || fail "llama3.2 c02"
same "$dir/out" "$golden/expected/llama3.2/c02_system_user.gen.txt" "llama3.2 c02 gen"

"$tool" --template "$golden/templates/llama3.2.jinja" --messages - \
    --bos '<|begin_of_text|>' --eos '<|eot_id|>' --date 2025-01-05 <"$dir/c02-parts.json" >"$dir/out" ||
    fail "llama3.2 c02 from stdin with parts"
same "$dir/out" "$golden/expected/llama3.2/c02_system_user.gen.txt" "content parts, messages from stdin"

"$tool" --template "$golden/templates/qwen3-nothink.jinja" --messages "$dir/c04.json" --eos '<|im_end|>' \
    --var enable_thinking=false --no-generation-prompt >"$dir/out" || fail "qwen3-nothink c04 nogen"
same "$dir/out" "$golden/expected/qwen3-nothink/c04_assistant_last.nogen.txt" "qwen3 nothink c04 nogen (--var)"

"$tool" --template "$golden/templates/gemma3.jinja" --messages "$dir/c02.json" --bos '<bos>' --eos '<eos>' \
    >"$dir/out" || fail "gemma3 c02"
same "$dir/out" "$golden/expected/gemma3/c02_system_user.gen.txt" "gemma3 c02 gen"

# a template that raises: its message on stderr, status 1, nothing on stdout
if "$tool" --template "$golden/templates/llama2.jinja" --messages "$dir/c09.json" --bos '<s>' --eos '</s>' \
    >"$dir/out" 2>"$dir/err"; then fail "llama2 c09 should raise"; fi
printf '%s\n' "$(cat "$golden/expected/llama2/c09_consecutive_users.gen.error.txt")" >"$dir/want"
same "$dir/err" "$dir/want" "llama2 c09 raises with the template's message"
[ ! -s "$dir/out" ] || fail "llama2 c09 printed something"

"$tool" --name chatml --messages "$dir/c02.json" >"$dir/out" || fail "--name chatml"
grep -q '<|im_start|>assistant' "$dir/out" || fail "--name chatml has no generation prompt"
echo "ok: --name chatml"

# errors name the option
expect_err() { # OPTION-NAME ARGS...
    want=$1
    shift
    if "$tool" "$@" >/dev/null 2>"$dir/err"; then fail "$* should fail"; fi
    grep -q -- "$want" "$dir/err" || { cat "$dir/err"; fail "$* does not name $want"; }
    echo "ok: error names $want"
}
expect_err "--messages" --name chatml --messages "$dir/nosuch.json"
expect_err "--var" --name chatml --messages "$dir/c02.json" --var novalue
expect_err "--var" --name chatml --messages "$dir/c02.json" --var 'x={bad'
expect_err "--date" --name chatml --messages "$dir/c02.json" --date 2025-13-01
expect_err "--name" --name nosuch --messages "$dir/c02.json"
expect_err "--template" --template "$dir/nosuch.jinja" --messages "$dir/c02.json"
expect_err "-m" -m "$dir/nosuch.gguf" --messages "$dir/c02.json"
expect_err "exactly one of" --messages "$dir/c02.json"
