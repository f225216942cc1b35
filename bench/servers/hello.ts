/**
 * Baseline: a bare node:http server answering a small JSON hello, the most a Node process on this
 * machine serves without any framework. Prints `READY <port>`.
 */
import http from "node:http";
import { exitWithParent } from "./lifeline";

const body = JSON.stringify({ hello: "world" });
const server = http.createServer((_req, res) => {
	res.writeHead(200, {
		"Content-Type": "application/json; charset=utf-8",
		"Content-Length": Buffer.byteLength(body)
	});
	res.end(body);
});
server.keepAliveTimeout = 5_000;
server.listen(0, "127.0.0.1", () => {
	const { port } = server.address() as { port: number };
	console.log(`READY ${port}`);
});
exitWithParent(() => new Promise<void>(r => server.close(() => r())));
