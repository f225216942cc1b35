import type { Server } from "node:http";

/**
 * Bench helpers run as child processes of the bench: they exit as soon as their stdin closes,
 * which happens when the bench stops them or when the bench itself dies (even by SIGKILL).
 */
export function exitWithParent(onExit: () => void | Promise<void> = () => undefined): void {
	const quit = () => {
		void Promise.resolve(onExit()).finally(() => process.exit(0));
	};
	process.stdin.on("end", quit);
	process.stdin.on("close", quit);
	process.stdin.on("error", quit);
	process.stdin.resume();
	process.on("SIGINT", quit);
	process.on("SIGTERM", quit);
}

/**
 * A reference HTTP server on a free loopback port: prints `READY <port>` once listening and
 * closes with the parent. Keep-alive as our gateway's (5 s).
 */
export function serveOnLoopback(server: Server): void {
	server.keepAliveTimeout = 5_000;
	server.listen(0, "127.0.0.1", () => {
		const { port } = server.address() as { port: number };
		console.log(`READY ${port}`);
	});
	exitWithParent(() => new Promise<void>(r => server.close(() => r())));
}
