// What the llm-server tests share: starting a server on a free loopback
// port (--port 0; the server prints the one it got) and stopping it, with
// the check that it exits cleanly (under ASan, a leak makes it fail); when
// a test fails, the servers' output is printed.
import { spawn } from "node:child_process";
import { join } from "node:path";

export function fail(msg) {
	console.error("FAIL: " + msg);
	process.exit(1);
}

export function check(cond, msg) {
	if (!cond) fail(msg);
}

// Resolves to { url, port, stop } once the server listens; its stderr is
// kept for the failure message.
export function startServer(exe, args) {
	return new Promise((resolve, reject) => {
		const proc = spawn(exe, ["--host", "127.0.0.1", "--port", "0", ...args], { stdio: ["ignore", "ignore", "pipe"] });
		let log = "";
		const exited = new Promise((res) => proc.on("exit", (code, sig) => res(sig ? sig : code)));
		// A failing test shows what the server said (a sanitizer's report, ...).
		process.on("exit", (code) => code && console.error(`--- llm-server ${args.join(" ")}:\n${log}`));
		const timer = setTimeout(() => reject(new Error("llm-server did not start: " + log)), 30000);
		proc.stderr.on("data", (d) => {
			log += d;
			const m = /listening on http:\/\/127\.0\.0\.1:(\d+)\//.exec(log);
			if (!m || proc.port) return;
			proc.port = Number(m[1]);
			clearTimeout(timer);
			resolve({
				port: proc.port,
				url: `http://127.0.0.1:${proc.port}`,
				log: () => log,
				async stop() {
					proc.kill("SIGTERM");
					const code = await exited;
					check(code === 0, `llm-server exited with ${code}:\n${log}`);
				},
			});
		});
		exited.then((code) => reject(new Error(`llm-server exited (${code}) before listening:\n${log}`)));
	});
}

// The p-th quantile of sorted numbers.
export function quantile(sorted, p) {
	return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

// stories260K.gguf in $LLM_TEST_MODELS, or else in the build's models directory.
export function testModel(dir) {
	return join(process.env.LLM_TEST_MODELS || dir, "stories260K.gguf");
}
