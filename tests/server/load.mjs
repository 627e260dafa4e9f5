// node load.mjs LLM_SERVER MODELS_DIR
//
// A bounded load test: 200 completions (every other one streamed) from 16
// clients at once on 4 slots, within 60 s, with no failure; prints the
// throughput and the p50/p99 latency. The server must then exit cleanly
// (under ASan: with no leak).
import OpenAI from "openai";
import { basename } from "node:path";
import { check, quantile, startServer, testModel } from "./common.mjs";

const [serverExe, modelsDir] = process.argv.slice(2);
const modelPath = testModel(modelsDir);
const MODEL = basename(modelPath);
const REQUESTS = 200, CLIENTS = 16, BUDGET_MS = 60000;

const srv = await startServer(serverExe, ["-m", modelPath, "-np", "4"]);
const client = new OpenAI({ baseURL: srv.url + "/v1", apiKey: "none", maxRetries: 0, timeout: BUDGET_MS });
const words = ["Once upon a time", "The dog", "Lily saw", "A big tree", "Tom was happy", "The sky"];

// One request; resolves to [latency ms, completion tokens].
async function one(i) {
	const t0 = performance.now();
	const args = { model: MODEL, prompt: words[i % words.length], max_tokens: 32, temperature: 0.8, seed: i };
	let tokens;
	if (i % 2) {
		const s = await client.completions.create({ ...args, stream: true, stream_options: { include_usage: true } });
		for await (const ch of s) if (ch.usage) tokens = ch.usage.completion_tokens;
	} else {
		tokens = (await client.completions.create(args)).usage.completion_tokens;
	}
	check(tokens > 0, `request ${i} generated nothing`);
	return [performance.now() - t0, tokens];
}

let next = 0, failures = 0, tokens = 0;
const latencies = [];
const start = performance.now();
await Promise.all(Array.from({ length: CLIENTS }, async () => {
	while (next < REQUESTS && performance.now() - start < BUDGET_MS) {
		const i = next++;
		try {
			const [ms, n] = await one(i);
			latencies.push(ms);
			tokens += n;
		} catch (e) {
			failures++;
			console.error(`request ${i}: ${e.message}`);
		}
	}
}));
const secs = (performance.now() - start) / 1000;
latencies.sort((a, b) => a - b);
console.log(`load: ${latencies.length} requests from ${CLIENTS} clients in ${secs.toFixed(2)} s: ` +
	`${(latencies.length / secs).toFixed(1)} req/s, ${(tokens / secs).toFixed(0)} tokens/s, ` +
	`latency p50 ${quantile(latencies, 0.5).toFixed(1)} ms, p99 ${quantile(latencies, 0.99).toFixed(1)} ms, ${failures} failed`);
check(failures === 0, `${failures} requests failed`);
check(latencies.length === REQUESTS, `only ${latencies.length} of ${REQUESTS} requests within ${BUDGET_MS / 1000} s`);
await srv.stop();
