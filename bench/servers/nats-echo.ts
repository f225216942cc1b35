/**
 * Baseline: a raw NATS request-reply responder with the `nats` client (no broker), answering
 * every request on `bench.echo` with its own payload. Usage: nats-echo.ts <nats url>.
 */
import { connect } from "nats";
import { exitWithParent } from "./lifeline";

async function main() {
	const nc = await connect({ servers: process.argv[2] });
	nc.subscribe("bench.echo", { callback: (_err, msg) => msg.respond(msg.data) });
	await nc.flush();
	console.log("READY");
	exitWithParent(() => nc.drain());
}

main().catch(err => {
	console.error(err);
	process.exit(1);
});
