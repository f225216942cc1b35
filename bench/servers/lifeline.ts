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
