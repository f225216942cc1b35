/**
 * platform/http/listen.ts: one HTTP server on several sockets sharing its port. A burst of connections is
 * accepted in fewer event-loop turns, every connection is served by the one server, the port stays
 * exclusive to its process, and closing stops every socket.
 */
import http from "node:http";
import net from "node:net";
import {
	SHARES_PORTS,
	listen,
	nodeHasReusePort,
	type Listening
} from "../../../../platform/http/listen";

const HOST = "127.0.0.1";
const opened: { listening?: Listening; server?: net.Server; sockets?: net.Socket[] }[] = [];

afterEach(async () => {
	const all = opened.splice(0);
	for (const { sockets } of all) for (const socket of sockets ?? []) socket.destroy();
	for (const { listening, server } of all) {
		await listening?.close();
		await new Promise(resolve => (server?.listening ? server.close(resolve) : resolve(null)));
	}
});

async function gateway(sockets: number) {
	const server = http.createServer((_req, res) => res.end("ok"));
	const listening = await listen(server, { port: 0, host: HOST, sockets });
	opened.push({ listening });
	return { server, listening };
}

function get(port: number, agent: http.Agent | false = false): Promise<string> {
	return new Promise((resolve, reject) => {
		http.get({ host: HOST, port, agent }, res => {
			let body = "";
			res.on("data", chunk => (body += chunk));
			res.on("end", () => resolve(body));
		}).on("error", reject);
	});
}

/** A plain socket listening on its own (no SO_REUSEPORT unless asked). */
function plainServer(options: net.ListenOptions): Promise<net.Server> {
	const server = net.createServer();
	opened.push({ server });
	return new Promise((resolve, reject) => {
		server.once("error", reject);
		server.listen(options, () => resolve(server));
	});
}

function connect(port: number): Promise<net.Socket> {
	return new Promise((resolve, reject) => {
		const socket = net.connect({ host: HOST, port }, () => resolve(socket));
		socket.once("error", reject);
	});
}

/** Event-loop turns (check phases) until the server has seen `n` connections made at once. */
async function turnsToAccept(server: http.Server, port: number, n: number): Promise<number> {
	let accepted = 0;
	server.on("connection", () => accepted++);
	const sockets: net.Socket[] = [];
	opened.push({ sockets });
	// Every connection is in the kernel's accept queues before the server's loop polls again.
	const connecting = Array.from({ length: n }, () => connect(port).then(s => sockets.push(s)));
	let turns = 0;
	while (accepted < n) {
		await new Promise(resolve => setImmediate(resolve));
		turns++;
	}
	await Promise.all(connecting);
	return turns;
}

if (!SHARES_PORTS)
	it("listens on one socket where the platform or Node cannot share a port", async () => {
		const { listening } = await gateway(8);
		expect(listening.sockets).toBe(1);
		expect(await get(listening.port)).toBe("ok");
	});
else
	describe("on a platform that shares ports (Linux)", () => {
		it("serves connections from every socket with the one HTTP server", async () => {
			const { listening } = await gateway(4);
			expect(listening.sockets).toBe(4);
			const answers = await Promise.all(
				Array.from({ length: 40 }, () => get(listening.port))
			);
			expect(answers).toEqual(Array(40).fill("ok"));
		});

		it("accepts a burst of connections in fewer event-loop turns than one socket", async () => {
			const one = await gateway(1);
			const eight = await gateway(8);
			const turnsOne = await turnsToAccept(one.server, one.listening.port, 48);
			const turnsEight = await turnsToAccept(eight.server, eight.listening.port, 48);
			// One accept per socket and turn: 48 turns for one socket; the kernel spreads the burst
			// over the 8 (by a hash of each connection's addresses, so not evenly).
			expect(turnsOne).toBeGreaterThanOrEqual(48);
			expect(turnsEight).toBeLessThan(turnsOne / 2);
		});

		it("reports an error of any of its sockets as the HTTP server's, without crashing", async () => {
			const { server, listening } = await gateway(8);
			const errors: string[] = [];
			server.on("error", err => errors.push(err.message));
			expect(listening.servers).toHaveLength(8);
			expect(listening.servers[0]).toBe(server);
			for (const socket of listening.servers.slice(1))
				socket.emit("error", new Error("accept EMFILE"));
			expect(errors).toEqual(Array(7).fill("accept EMFILE"));
			expect(await get(listening.port)).toBe("ok");
		});

		it("keeps the port to itself: a taken port fails, and a later bind fails against it", async () => {
			const plain = await plainServer({ port: 0, host: HOST });
			const taken = (plain.address() as net.AddressInfo).port;
			await expect(
				listen(http.createServer(), { port: taken, host: HOST, sockets: 8 })
			).rejects.toMatchObject({ code: "EADDRINUSE" });

			const { listening } = await gateway(8);
			await expect(
				listen(http.createServer(), { port: listening.port, host: HOST, sockets: 8 })
			).rejects.toMatchObject({ code: "EADDRINUSE" });
			await expect(plainServer({ port: listening.port, host: HOST })).rejects.toMatchObject({
				code: "EADDRINUSE"
			});
			// Still serving after the failed attempts.
			expect(await get(listening.port)).toBe("ok");
		});

		it("stops accepting on every socket at close, and settles once its connections end", async () => {
			const { server, listening } = await gateway(8);
			const agent = new http.Agent({ keepAlive: true });
			expect(await get(listening.port, agent)).toBe("ok");
			let settled = false;
			const closing = listening.close().then(() => (settled = true));
			expect(listening.closed).toBe(true);
			// Every socket refuses: the kernel would spread these over all 8 if one still listened.
			const attempts = await Promise.allSettled(
				Array.from({ length: 24 }, () => connect(listening.port))
			);
			expect(attempts.map(a => a.status)).toEqual(Array(24).fill("rejected"));
			server.closeAllConnections();
			agent.destroy();
			await closing;
			expect(settled).toBe(true);
			// A second close is the same settled promise.
			await expect(listening.close()).resolves.toBeUndefined();
		});
	});

it("shares ports only on a Node that has reusePort (22.12, 23.1 and later)", () => {
	expect(
		["20.20.2", "22.11.0", "22.12.0", "22.23.3", "23.0.0", "23.1.0", "24.0.0"].map(
			nodeHasReusePort
		)
	).toEqual([false, false, true, true, false, true, true]);
});

it("listens on one socket when asked for one, as a plain server does", async () => {
	const { listening } = await gateway(1);
	expect(listening.sockets).toBe(1);
	expect(await get(listening.port)).toBe("ok");
	await expect(
		plainServer({ port: listening.port, host: HOST, reusePort: SHARES_PORTS })
	).rejects.toMatchObject({ code: "EADDRINUSE" });
});
