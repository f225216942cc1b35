/**
 * The gateway's port, listened on through several sockets so that a busy node still accepts a
 * burst of new connections at once.
 *
 * libuv accepts one connection per listening socket per event-loop turn (libuv/libuv#3696). Under
 * load a turn of the node runs a step of every request in flight (10-20 ms with 64 orders in
 * flight, platform/messaging/fair-scheduling.ts), so 64 clients that connect together waited up to 64 turns for
 * their accept: the first answer on a new connection came up to 0.7 s late while the requests on
 * open connections took 0.12 s. Sockets bound to the same address with SO_REUSEPORT each get their
 * accept per turn, and the kernel spreads new connections over them: 8 sockets, about 8 times
 * fewer turns for a burst. The extra sockets hand their connections to the one HTTP server, so
 * every connection is served, timed out and drained alike.
 *
 * SO_REUSEPORT would also let a second process bind the same port and take a share of its
 * connections (a second gateway started by mistake on the same port, even of another cluster).
 * So the port is first bound exclusively for a moment: a port held by anyone else fails with
 * EADDRINUSE as a single socket would, and a later process fails the same way against ours.
 */
import net from "node:net";
import type { Server } from "node:http";

export interface ListenOptions {
	port: number;
	host: string;
	/** Listening sockets; more than 1 only where SO_REUSEPORT spreads connections (Linux). */
	sockets: number;
}

export interface Listening {
	port: number;
	/** Listening sockets in use: `sockets`, or 1 where the platform cannot share the port. */
	sockets: number;
	/** The servers listening: the HTTP server, then those that hand it their connections. */
	readonly servers: readonly net.Server[];
	/** True from the first `close()`. */
	readonly closed: boolean;
	/** Stops accepting on every socket at once; settles when their connections have ended. */
	close(): Promise<void>;
}

/**
 * Where the kernel spreads connections over sockets sharing a port: Linux, and Node's `reusePort`
 * (22.12 or 23.1 and later; an older Node ignores the option, and the second socket would not
 * bind).
 */
export const SHARES_PORTS = process.platform === "linux" && nodeHasReusePort(process.versions.node);

export function nodeHasReusePort(version: string): boolean {
	const [major, minor] = version.split(".").map(Number);
	return major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12);
}

export async function listen(server: Server, options: ListenOptions): Promise<Listening> {
	const sockets = SHARES_PORTS ? Math.max(1, options.sockets) : 1;
	const { host } = options;
	if (sockets === 1) {
		await bind(server, { port: options.port, host });
		return listening(server, []);
	}

	const port = await reserve(options.port, host);
	await bind(server, { port, host, reusePort: true });
	const extras: net.Server[] = [];
	try {
		for (let i = 1; i < sockets; i++) {
			// As http.Server configures its own sockets (allowHalfOpen: the HTTP parser ends them).
			const extra = net.createServer({ allowHalfOpen: true, noDelay: true }, socket =>
				server.emit("connection", socket)
			);
			await bind(extra, { port, host, reusePort: true });
			// An error of a socket is the server's (an accept failing with EMFILE, say): left
			// without a listener it would crash the process.
			extra.on("error", err => server.emit("error", err));
			extras.push(extra);
		}
	} catch (err) {
		await listening(server, extras).close();
		throw err;
	}
	return listening(server, extras);
}

/** The port bound exclusively and released: held by another socket, it fails here. */
async function reserve(port: number, host: string): Promise<number> {
	const probe = net.createServer();
	await bind(probe, { port, host });
	const bound = (probe.address() as net.AddressInfo).port;
	await new Promise(resolve => probe.close(resolve));
	return bound;
}

function bind(server: net.Server, options: net.ListenOptions): Promise<void> {
	return new Promise((resolve, reject) => {
		const failed = (err: Error) => reject(err);
		server.once("error", failed);
		server.listen(options, () => {
			server.off("error", failed);
			resolve();
		});
	});
}

function listening(server: Server, extras: net.Server[]): Listening {
	const servers = [server, ...extras];
	let closing: Promise<void> | undefined;
	return {
		port: (server.address() as net.AddressInfo).port,
		sockets: servers.length,
		servers,
		get closed() {
			return closing !== undefined;
		},
		close() {
			closing ??= Promise.all(
				servers.map(s => new Promise(resolve => s.close(resolve)))
			).then(() => undefined);
			return closing;
		}
	};
}
