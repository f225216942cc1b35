/**
 * Baseline: a bare node:http server answering a small JSON hello, the most a Node process on this
 * machine serves without any framework. Prints `READY <port>`.
 */
import http from "node:http";
import { serveOnLoopback } from "./lifeline";

const body = JSON.stringify({ hello: "world" });
const server = http.createServer((_req, res) => {
	res.writeHead(200, {
		"Content-Type": "application/json; charset=utf-8",
		"Content-Length": Buffer.byteLength(body)
	});
	res.end(body);
});
serveOnLoopback(server);
