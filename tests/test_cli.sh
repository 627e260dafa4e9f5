#!/bin/sh
# usage: test_cli.sh BUILD_ROOT MODELS
# The command-line conventions of llm and every tool (tools/opts.h): whole
# options, errors that name the option and what it accepts, exit status 2
# for a mistake and 0 for --help, a thread per core by default, a new seed
# per run, and the model file named on stderr.
set -eu
build=$1
models=${LLM_TEST_MODELS:-$2}
model=$models/stories260K.gguf
llm=$build/examples/llm
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

fail() { echo "FAIL: $*"; cat "$dir/err" 2>/dev/null; exit 1; }

# expect STATUS MESSAGE COMMAND...: the command exits with STATUS and its
# stderr holds MESSAGE.
expect() {
    want=$1 msg=$2
    shift 2
    set +e
    "$@" </dev/null >"$dir/out" 2>"$dir/err"
    got=$?
    set -e
    [ "$got" = "$want" ] || fail "$* exited $got, not $want"
    grep -qF -- "$msg" "$dir/err" || fail "$* did not say: $msg"
}

expect 2 "unknown option '-fa'" "$llm" -m "$model" -n 4 -fa
expect 2 "unknown option '-help'" "$llm" -help
expect 2 "unknown option '-n4'" "$llm" -m "$model" -n4
expect 2 "option -n wants an integer from 0 to 2147483647, not 'x'" "$llm" -m "$model" -n x
expect 2 "option --temp wants a number from 0 to 100, not 'hot'" "$llm" -m "$model" --temp=hot
expect 2 "option -t wants an integer from 1 to 256, not '0'" "$llm" -m "$model" -t 0
expect 2 "option -c needs a value: an integer from 1 to 2147483647" "$llm" -m "$model" -c
expect 2 "option --seed wants an integer from 0 to 18446744073709551615, not '-1'" "$llm" -m "$model" --seed -1
expect 2 "no model given: use -m MODEL" "$llm" -cnv
expect 2 "give -cnv or -no-cnv, not both" "$llm" -m "$model" -cnv -no-cnv
expect 1 "has no chat template" "$llm" -m "$model" -cnv
expect 1 "cannot open $dir/absent" "$llm" -m "$model" -f "$dir/absent"
printf 'a\000b' >"$dir/nul"
expect 1 "-f $dir/nul: a NUL byte at offset 1" "$llm" -m "$model" -f "$dir/nul"
printf 'a\000b\nHi\n' | "$llm" -m "$model" --chat-template chatml -cnv -n 2 --verbose-prompt >/dev/null 2>"$dir/err" ||
    fail "a NUL in a message ended the conversation"
grep -q "a message holding a NUL byte is left out" "$dir/err" && [ "$(grep -c 'fed at' "$dir/err")" = 1 ] ||
    fail "a message holding a NUL was not left out alone"
"$llm" --help >"$dir/out" || fail "llm --help exited $?"
for word in -cnv -sys --chat-template --special -e /exit /clear /regen ollama:NAME; do
    grep -qF -- "$word" "$dir/out" || fail "llm --help does not mention $word"
done
echo "ok: llm's errors and --help"

# The model file on stderr, a thread per core, seeds that differ between
# runs started together, -e and -f (one trailing newline dropped).
cores=$(getconf _NPROCESSORS_ONLN)
[ "$cores" -gt 256 ] && cores=256
"$llm" -m "$model" -n 1 -v >"$dir/out" 2>"$dir/err1" & pid=$!
"$llm" -m "$model" -n 1 >/dev/null 2>"$dir/err2"
wait $pid
grep -qF "llm: model $model" "$dir/err1" || fail "llm does not name the model file"
grep -qF ", $cores threads," "$dir/err1" || fail "llm does not default to $cores threads: $(cat "$dir/err1")"
s1=$(sed -n 's/.*, seed \([0-9]*\)$/\1/p' "$dir/err1") s2=$(sed -n 's/.*, seed \([0-9]*\)$/\1/p' "$dir/err2")
[ -n "$s1" ] && [ "$s1" != "$s2" ] || fail "two runs got seeds '$s1' and '$s2'"
printf 'Once upon\\ta time\n' >"$dir/prompt"
"$llm" -m "$model" -f "$dir/prompt" -n 0 >"$dir/out" 2>/dev/null
[ "$(cat "$dir/out")" = 'Once upon\ta time' ] || fail "-f gave '$(cat "$dir/out")'"
"$llm" -m "$model" -e -p 'Once\tupon' -n 0 >"$dir/out" 2>/dev/null
[ "$(cat "$dir/out")" = "$(printf 'Once\tupon')" ] || fail "-e gave '$(cat "$dir/out")'"
# --special: <s> written in the prompt is the BOS control token (id 1 of
# stories260K), not its characters.
"$llm" -m "$model" -p '<s>Hi' --special --verbose-prompt -n 0 >/dev/null 2>"$dir/err"
grep -q "^llm: prompt: fed at 0, [0-9]* tokens: 1 1 " "$dir/err" || fail "--special did not match <s>"
"$llm" -m "$model" -p '<s>Hi' --verbose-prompt -n 0 >/dev/null 2>"$dir/err"
grep -q "^llm: prompt: fed at 0, [0-9]* tokens: 1 1 " "$dir/err" && fail "<s> matched without --special"
echo "ok: llm names its model, uses $cores threads, seeds differ, -f, -e and --special"

# Every tool: the same conventions.
# (llm-server only where libmicrohttpd was found)
for tool in tools/llm-tokenize tools/llm-perplexity tools/llm-bench tools/llm-convert tools/llm-quantize \
            tools/llm-synth tools/tok-bench tools/llm-template tools/hostile-bench tools/llm-server; do
    name=${tool#tools/}
    [ "$name" = llm-server ] && [ ! -x "$build/$tool" ] && continue
    expect 2 "$name: unknown option '--bogus' (see --help)" "$build/$tool" --bogus
    "$build/$tool" --help >"$dir/out" || fail "$name --help exited $?"
    grep -q "^usage: $name" "$dir/out" || fail "$name --help prints no usage"
done
expect 2 "option -t wants an integer from 1 to 256, not '999'" "$build/tools/llm-perplexity" -m "$model" -f x -t 999
expect 2 "option --tensor-type: expected PATTERN=TYPE" "$build/tools/llm-quantize" --tensor-type x a b q8_0
expect 2 "option --seed wants an integer" "$build/tools/llm-synth" --seed x
expect 2 "option --var: expected KEY=JSON" "$build/tools/llm-template" --name chatml --var x
expect 2 "unexpected argument 'd'" "$build/tools/llm-quantize" a b c d
[ -x "$build/tools/llm-server" ] &&
    expect 2 "option -np wants an integer from 1 to 256, not '0'" "$build/tools/llm-server" -m "$model" -np 0
expect 2 "give exactly one of -p TEXT or -f FILE" "$build/tools/llm-tokenize" -m "$model"
"$build/tools/llm-bench" -m "$model" -p 8 -n 8 -r 1 --json >"$dir/out" 2>"$dir/err" || fail "llm-bench failed"
grep -qF "\"threads\": $cores," "$dir/out" || fail "llm-bench does not default to $cores threads: $(cat "$dir/out")"
echo "ok: every tool's errors and --help; llm-bench uses $cores threads"
