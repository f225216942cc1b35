/**
 * Reference: bare node:http sending the very answer our gateway sends for a request (the same
 * header fields in the same order, a fresh X-Request-ID, the same JSON body serialized anew each
 * time), and nothing else. Its gap to the bare hello server is what the answer itself costs; our
 * gateway's gap to it is the work done per request behind the answer.
 *
 *   same-answer.ts '<json: { headers: [name, value][], body: string }>'
 *
 * Prints `READY <port>`.
 */
import http from "node:http";
import { randomUUID } from "node:crypto";
import { serveOnLoopback } from "./lifeline";

/** Fields node:http writes itself (or per connection): not copied. */
const SET_BY_NODE = new Set(["date", "connection", "keep-alive", "content-length"]);

const answer = JSON.parse(process.argv[2] ?? "") as { headers: [string, string][]; body: string };
const headers = answer.headers.filter(([name]) => !SET_BY_NODE.has(name.toLowerCase()));
const data: unknown = JSON.parse(answer.body);

const server = http.createServer((_req, res) => {
	for (const [name, value] of headers)
		res.setHeader(name, name.toLowerCase() === "x-request-id" ? randomUUID() : value);
	res.end(JSON.stringify(data));
});
serveOnLoopback(server);
