// node api.mjs LLM_SERVER LLM MODELS_DIR README
//
// llm-server against the official openai client: the model list; a greedy
// chat completion (chatml, which stories260K does not know, but renders
// all the same) and a greedy completion, each equal to `llm --temp 0` on
// the same rendered prompt; the same streamed (deltas concatenate to it,
// usage when asked); stop strings; a conversation's second turn reusing
// the first's cache; embeddings; logit_bias and the penalties; 8 concurrent chat
// streams on 4 slots, each equal to its sequential result, decoded in
// shared passes (llm_decode_multi, counted in /metrics); streams the
// client aborts after 3 chunks stop generating and free their slots; bad
// requests are each a 4xx with OpenAI's error object, after which the
// server still serves; the queue in order, and a 503 with Retry-After when
// full; CORS only
// with --cors-origin; the README's client example runs.
import OpenAI from "openai";
import { execFileSync } from "node:child_process";
import http from "node:http";
import net from "node:net";
import { readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { check, startServer, testModel } from "./common.mjs";

const [serverExe, llmExe, modelsDir, readmePath] = process.argv.slice(2);
const modelPath = testModel(modelsDir);
const MODEL = basename(modelPath);
const KEY = "key-" + process.pid;
const NO_END = { 1: -100, 2: -100 }; // logit_bias: never BOS/EOS, so generation runs to max_tokens

const srv = await startServer(serverExe, ["-m", modelPath, "-np", "4", "-c", "4096", "--api-key", KEY, "--chat-template", "chatml"]);
const client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: KEY, maxRetries: 0, timeout: 60000 });

// `llm`'s greedy continuation of prompt: its output less the prompt it echoes.
function llmGreedy(prompt, n) {
	const out = execFileSync(llmExe, ["-m", modelPath, "-p", prompt, "-n", String(n), "--temp", "0"],
		{ encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
	check(out.startsWith(prompt) && out.endsWith("\n"), `llm printed ${JSON.stringify(out)}`);
	return out.slice(prompt.length, -1);
}

// chatml, as the built-in template renders one user message.
const chatml = (text) => `<|im_start|>user\n${text}<|im_end|>\n<|im_start|>assistant\n`;

// A request for n greedy tokens after prompt: a chat of one user message,
// or (chat false) a completion.
function request(chat, prompt, n, extra) {
	const args = { model: MODEL, max_tokens: n, temperature: 0, ...extra };
	return chat ? client.chat.completions.create({ ...args, messages: [{ role: "user", content: prompt }] })
		: client.completions.create({ ...args, prompt });
}

async function greedy(chat, prompt, n, extra) {
	const r = await request(chat, prompt, n, extra);
	const c = r.choices[0];
	check(r.object === (chat ? "chat.completion" : "text_completion") && r.usage.completion_tokens <= n &&
		r.usage.prompt_tokens > 0, "response " + JSON.stringify(r));
	check(c.finish_reason === (r.usage.completion_tokens === n ? "length" : "stop"), "finish_reason " + c.finish_reason);
	check(!chat || c.message.role === "assistant", "message " + JSON.stringify(c.message));
	return chat ? c.message.content : c.text;
}

// Streams a request; returns the concatenated text, the usage chunk and the chunk count.
async function streamed(chat, prompt, n, extra = {}) {
	const s = await request(chat, prompt, n, { stream: true, ...extra });
	let text = "", usage = null, chunks = 0, finish = null;
	for await (const ch of s) {
		chunks++;
		if (ch.usage) usage = ch.usage;
		for (const c of ch.choices) {
			text += (chat ? c.delta.content : c.text) || "";
			finish = c.finish_reason || finish;
		}
	}
	check(finish === "length" || finish === "stop", "a stream ended without finish_reason");
	return { text, usage, chunks };
}

// Every line of /metrics a comment or a sample of Prometheus's text format.
async function checkMetricsFormat() {
	const text = await (await fetch(srv.url + "/metrics", { headers: { Authorization: "Bearer " + KEY } })).text();
	const bad = text.split("\n").filter((l) => l && !/^# (HELP|TYPE) [a-z_]+ .+$/.test(l) &&
		!/^[a-z_]+(\{[a-z_]+="[^"]*"\})? [0-9.e+-]+$/.test(l));
	check(text.endsWith("\n") && !bad.length, "/metrics lines not in the text format: " + bad.join(" | "));
}

async function metric(name) {
	const r = await fetch(srv.url + "/metrics", { headers: { Authorization: "Bearer " + KEY } });
	const m = new RegExp("^" + name.replace(/[{}"]/g, "\\$&") + " (\\d+)", "m").exec(await r.text());
	check(r.ok && m, `/metrics has no ${name}`);
	return Number(m[1]);
}

// --- models
const models = await client.models.list();
check(models.data.length === 1 && models.data[0].id === MODEL, "models: " + JSON.stringify(models.data));
check((await client.models.retrieve(MODEL)).id === MODEL, "models.retrieve");
await refused("models.retrieve of another model", () => client.models.retrieve("gpt-4o"), 404);

// --- greedy, plain and streamed, against llm (the first requests: the
// slots hold nothing yet, so every prompt is computed as llm computes it)
const PROMPT = "Once upon a time";
let want;
for (const chat of [true, false]) {
	const rendered = chat ? chatml(PROMPT) : PROMPT;
	want = llmGreedy(rendered, 48);
	check(want.length > 20, "llm's greedy output is too short to compare: " + JSON.stringify(want));
	const got = await greedy(chat, PROMPT, 48);
	check(got === want, `greedy ${chat ? "chat" : "completion"} ${JSON.stringify(got)} != llm's ${JSON.stringify(want)}`);
	const st = await streamed(chat, PROMPT, 48, { stream_options: { include_usage: true } });
	check(st.text === want, `streamed ${JSON.stringify(st.text)} != ${JSON.stringify(want)}`);
	check(st.usage && st.usage.completion_tokens === 48 && st.usage.total_tokens === st.usage.prompt_tokens + 48,
		"stream usage " + JSON.stringify(st.usage));
	check(st.chunks > 10, `only ${st.chunks} chunks: not streamed token by token`);
	check((await streamed(chat, PROMPT, 8)).usage === null, "usage sent without stream_options.include_usage");
}
console.log("greedy: chat and completion, plain and streamed, equal llm's output");

// --- stop strings cut the text before them, streamed or not
const stop = want.slice(want.indexOf(" ", 10), want.indexOf(" ", 10) + 4);
const before_stop = want.slice(0, want.indexOf(stop));
const stopped = await request(false, PROMPT, 48, { stop: [stop, "zzzz"] });
check(stopped.choices[0].text === before_stop && stopped.choices[0].finish_reason === "stop",
	`stop ${JSON.stringify(stop)}: ` + JSON.stringify(stopped.choices[0]));
const stopped_stream = await streamed(false, PROMPT, 48, { stop });
check(stopped_stream.text === before_stop, `streamed, stop ${JSON.stringify(stop)}: ${JSON.stringify(stopped_stream.text)}`);

// --- a conversation's next turn reuses the slot that holds its start
const turn1 = [{ role: "user", content: "Tell me about a cat" }];
const r1 = await client.chat.completions.create({ model: MODEL, messages: turn1, max_tokens: 24, temperature: 0 });
const cached = await metric("llm_prompt_tokens_cached_total");
const r2 = await client.chat.completions.create({ model: MODEL, max_tokens: 8, temperature: 0,
	messages: [...turn1, r1.choices[0].message, { role: "user", content: "And then?" }] });
const reused = (await metric("llm_prompt_tokens_cached_total")) - cached;
check(reused >= r1.usage.prompt_tokens && reused < r2.usage.prompt_tokens,
	`the second turn reused ${reused} tokens; the first turn's prompt had ${r1.usage.prompt_tokens}`);

// --- embeddings: unit-length vectors of the model's width, the same as
// floats or base64 (the client's default), alone or in a batch
const width = (v) => Math.hypot(...v);
const b64 = await client.embeddings.create({ model: MODEL, input: ["a cat", "a dog"] });
const flt = await client.embeddings.create({ model: MODEL, input: "a dog", encoding_format: "float" });
check(b64.data.length === 2 && b64.data.every((d, i) => d.index === i && d.embedding.length === 64), "embeddings: " + JSON.stringify(b64).slice(0, 200));
check(b64.data.every((d) => Math.abs(width(d.embedding) - 1) < 1e-4), "embeddings are not unit length");
check(flt.data[0].embedding.every((x, i) => Math.fround(x) === b64.data[1].embedding[i]), "float and base64 embeddings differ");
check(b64.data[0].embedding.some((x, i) => Math.abs(x - b64.data[1].embedding[i]) > 1e-3), "two texts, one embedding");
check(b64.usage.prompt_tokens > 2 && b64.model === MODEL, "embeddings usage " + JSON.stringify(b64.usage));

// --- logit_bias and the penalties reach the sampler
const biased = await greedy(false, PROMPT, 6, { logit_bias: { 300: 100 } });
const unit = biased.slice(0, biased.length / 6);
check(unit && biased === unit.repeat(6), `logit_bias +100 on one token gave ${JSON.stringify(biased)}`);
for (const penalty of ["presence_penalty", "frequency_penalty"])
	check((await greedy(false, PROMPT, 48, { [penalty]: 2 })) !== want, `${penalty} 2 changed nothing`);

// --- 8 concurrent streams on 4 slots, each as it was alone
const prompts = ["Once upon a time", "The little dog", "Lily and Tom", "One day, a bird", "The sun was",
	"Tim had a red ball", "In the park", "Mom said"];
const alone = [];
for (const p of prompts) alone.push(await greedy(true, p, 40));
const shared0 = await metric("llm_shared_pass_tokens_total");
const together = await Promise.all(prompts.map((p) => streamed(true, p, 40)));
prompts.forEach((p, i) => check(together[i].text === alone[i],
	`concurrent stream ${i}: ${JSON.stringify(together[i].text)} != ${JSON.stringify(alone[i])}`));
const shared = await metric("llm_shared_pass_tokens_total") - shared0;
check(shared > 0, "the concurrent streams never shared a pass (llm_decode_multi)");
console.log(`concurrency: 8 streams on 4 slots equal their sequential results (${shared} tokens in shared passes)`);

// --- aborted streams stop within a token or so and free their slots
const before = await metric("llm_completion_tokens_total");
await Promise.all([0, 1, 2, 3].map(async (i) => {
	const s = await client.completions.create({ model: MODEL, prompt: prompts[i], max_tokens: 4000, temperature: 1, seed: i,
		logit_bias: NO_END, stream: true });
	let n = 0;
	for await (const _ of s) if (++n === 3) break; // leaving the loop aborts the request
}));
const t0 = Date.now();
let busy;
while ((busy = (await (await fetch(srv.url + "/health")).json()).slots_processing) && Date.now() - t0 < 1000)
	await new Promise((r) => setTimeout(r, 20));
check(busy === 0, `${busy} slots still busy 1 s after their clients left`);
const spent = (await metric("llm_completion_tokens_total")) - before;
// What they made before the server saw the hang-up depends on how fast
// this process gets to read; had they run on, it would be 16000.
check(spent < 8000, `the 4 aborted streams generated ${spent} tokens (of 16000 had they run on)`);
const t1 = Date.now();
const next = await client.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 2, stream: true });
for await (const _ of next) break;
check(Date.now() - t1 < 1000, `the next request took ${Date.now() - t1} ms to start`);
console.log(`abort: slots free after ${t1 - t0} ms, ${spent} tokens generated by 4 aborted streams`);

// --- bad requests: each a 4xx with the error object
function isError(body, status) {
	const e = body && body.error;
	return e && typeof e.message === "string" && e.message && typeof e.type === "string" && "param" in e && "code" in e
		? null : `status ${status}, body ${JSON.stringify(body).slice(0, 200)}`;
}
async function raw(path, init, want) {
	const r = await fetch(srv.url + path, { ...init, headers: { Authorization: "Bearer " + KEY, "Content-Type": "application/json", ...init.headers } });
	const body = await r.json().catch(() => null);
	check(r.status === want && !isError(body, r.status), `${init.method || "GET"} ${path}: want ${want}, ${isError(body, r.status) || r.status}`);
	return r;
}
async function refused(what, call, want) {
	try {
		await call();
	} catch (e) {
		check(e instanceof OpenAI.APIError && e.status === want && !isError({ error: e.error }, e.status),
			`${what}: want ${want}, got ${e.status} ${JSON.stringify(e.error)} ${e.message}`);
		return;
	}
	check(false, `${what}: accepted`);
}
await raw("/v1/completions", { method: "POST", body: "{\"model\": \"" + MODEL + "\", \"prompt\": " }, 400);
await raw("/v1/completions", { method: "POST", body: JSON.stringify({ model: MODEL, prompt: "x".repeat(2 << 20) }) }, 413);
await raw("/v1/completions", { method: "POST", body: `{"model": "${MODEL}", "prompt": "a", "prompt": "b"}` }, 400);
await raw("/v1/completions", { method: "POST", body: JSON.stringify({ model: MODEL, prompt: "a\u0000b" }) }, 400);
check((await request(false, "a\\u0000b", 2)).choices[0].finish_reason, "a prompt with the text \\u0000 refused");
await raw("/v1/completions", { method: "POST", body: "[" .repeat(100) + "]".repeat(100) }, 400);
await raw("/v1/completions", { method: "POST", headers: { "Content-Type": "text/plain" }, body: "{}" }, 415);
await raw("/v1/nothing", {}, 404);
await raw("/v1/models", { method: "DELETE" }, 405);
await raw("/v1/models", { headers: { Authorization: "Bearer wrong" } }, 401);
await refused("temperature: 'hot'", () => client.completions.create({ model: MODEL, prompt: "a", temperature: "hot" }), 400);
await refused("prompt: 7", () => client.completions.create({ model: MODEL, prompt: 7 }), 400);
await refused("n: 2", () => client.completions.create({ model: MODEL, prompt: "a", n: 2 }), 400);
await refused("unknown model", () => client.completions.create({ model: "gpt-4o", prompt: "a" }), 404);
await refused("missing messages", () => client.chat.completions.create({ model: MODEL }), 400);
await refused("messages: 'hi'", () => client.chat.completions.create({ model: MODEL, messages: "hi" }), 400);
await refused("role: 'wizard'", () => client.chat.completions.create({ model: MODEL, messages: [{ role: "wizard", content: "x" }] }), 400);
await refused("n: 2 (chat)", () => client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "x" }], n: 2 }), 400);
await refused("max_tokens beyond the context", () => client.completions.create({ model: MODEL, prompt: "a", max_tokens: 1 << 20 }), 400);
await refused("input: []", () => client.embeddings.create({ model: MODEL, input: [] }), 400);
await refused("input: [[1, 2]]", () => client.embeddings.create({ model: MODEL, input: [[1, 2]] }), 400);
await refused("logprobs: true", () => client.completions.create({ model: MODEL, prompt: "a", logprobs: true }), 400);
await refused("tools", () => client.chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "x" }],
	tools: [{ type: "function", function: { name: "f" } }] }), 400);
await refused("logit_bias key", () => client.completions.create({ model: MODEL, prompt: "a", logit_bias: { "-5": 1 } }), 400);
// Host names this server (a loopback name with its port) or the request is
// a page of another site whose name was rebound to 127.0.0.1
function withHost(host) {
	return new Promise((resolve) => {
		http.get({ host: "127.0.0.1", port: srv.port, path: "/health", headers: { Host: host } },
			(r) => r.resume().on("end", () => resolve(r.statusCode)));
	});
}
for (const [host, want] of [["evil.example:" + srv.port, 403], ["localhost:" + (srv.port + 1), 403], ["localhost.evil.example", 403],
	["localhost:" + srv.port, 200], ["[::1]:" + srv.port, 200], ["LOCALHOST:" + srv.port, 200]])
	check((await withHost(host)) === want, `Host ${host}: want ${want}`);
// Raw bytes on a socket: what the server answers (maybe nothing) before it closes.
function rawSocket(bytes) {
	return new Promise((resolve) => {
		const sock = net.connect(srv.port, "127.0.0.1", () => sock.end(bytes));
		let got = "";
		sock.on("data", (d) => (got += d));
		sock.on("error", () => {});
		sock.on("close", () => resolve(got));
	});
}
for (const [what, bytes] of [["garbage", "NOT HTTP AT ALL\r\n\r\n"], ["a 200 KB header", `GET / HTTP/1.1\r\nHost: localhost\r\nX: ${"a".repeat(200000)}\r\n\r\n`],
	["a bad Content-Length", `POST /v1/completions HTTP/1.1\r\nHost: localhost:${srv.port}\r\nContent-Length: -5\r\n\r\n`]]) {
	const answer = await rawSocket(bytes);
	check(!answer || /^HTTP\/1\.[01] [45]\d\d /.test(answer), `${what}: answered ${JSON.stringify(answer.slice(0, 80))}`);
}
check((await greedy(false, PROMPT, 48)) === want, "after the bad requests the server answers differently");
check((await metric("llm_requests_total{code=\"400\"}")) >= 7, "/metrics counted too few 400s");
await checkMetricsFormat();
console.log("bad requests: each refused with the error object; the server still serves");

// --- the README's example, pointed at this server
const example = /```js\n(import OpenAI[^`]*)```/.exec(readFileSync(readmePath, "utf8"));
check(example, "the README has no client example");
const exampleFile = join(dirname(fileURLToPath(import.meta.url)), "readme-example.mjs");
writeFileSync(exampleFile, example[1].replace("http://127.0.0.1:8080", srv.url).replace('apiKey: "none"', `apiKey: "${KEY}"`));
const printed = execFileSync(process.execPath, [exampleFile], { encoding: "utf8" });
check(printed.trim().length > 0, "the README's example printed nothing");
console.log("readme: the client example runs");

// --- the queue: first come, first served; when full, 503 with Retry-After
const one = await startServer(serverExe, ["-m", modelPath, "-np", "1", "-c", "8192", "--max-queue", "2", "--cors-origin", "http://app.example"]);
const c1 = new OpenAI({ baseURL: one.url + "/v1", apiKey: "none", maxRetries: 0 });
const queued = async (n) => { // waits until n requests are in line
	for (const t0 = Date.now(); (await (await fetch(one.url + "/health")).json()).queue !== n;) {
		check(Date.now() - t0 < 10000, `the queue never held ${n}: did the long stream end first?`);
		await new Promise((r) => setTimeout(r, 10));
	}
};
// holds the one slot for seconds (8000 tokens) unless aborted
const long = await c1.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 8000, logit_bias: NO_END, stream: true });
const it = long[Symbol.asyncIterator]();
await it.next();
const order = [];
// the order in which their first tokens arrive: the second cannot have one
// before the first has finished and freed the slot (whole responses could
// still reach the client in either order, the second's being short)
const inLine = ["first", "second"].map(async (name, i) => {
	if (i) await queued(1);
	const s = await c1.completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 4, stream: true });
	let seen = false;
	for await (const chunk of s) if (!seen && chunk.choices.length) { order.push(name); seen = true; }
});
await queued(2);
const r503 = await fetch(one.url + "/v1/completions", { method: "POST", headers: { "Content-Type": "application/json" },
	body: JSON.stringify({ model: MODEL, prompt: "a" }) });
check(r503.status === 503 && r503.headers.get("retry-after") && !isError(await r503.json(), 503), `full queue: ${r503.status}`);
await it.return();
await Promise.all(inLine);
check(order.join() === "first,second", "the queue served " + order.join(" before "));
console.log("queue: served in order; a full queue answers 503 with Retry-After");

// --- CORS only for the origin --cors-origin names, and not by default
const pre = await fetch(one.url + "/v1/chat/completions", { method: "OPTIONS",
	headers: { Origin: "http://app.example", "Access-Control-Request-Method": "POST" } });
check(pre.status === 204 && pre.headers.get("access-control-allow-origin") === "http://app.example" &&
	/POST/.test(pre.headers.get("access-control-allow-methods")), `preflight: ${pre.status}`);
check((await fetch(one.url + "/health")).headers.get("access-control-allow-origin") === "http://app.example", "no CORS header");
check((await fetch(srv.url + "/health")).headers.get("access-control-allow-origin") === null, "CORS without --cors-origin");
check((await fetch(srv.url + "/v1/models", { method: "OPTIONS" })).status === 405, "a preflight answered without --cors-origin");
console.log("cors: only with --cors-origin");
await one.stop();
await srv.stop();
