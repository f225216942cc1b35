/**
 * `npm run repl`: join a running cluster as an extra node (no services of its own) and open
 * moleculer-repl. Uses TRANSPORTER (default nats://127.0.0.1:4222) and NAMESPACE like every node.
 */
import { ServiceBroker } from "moleculer";
import brokerConfig from "../moleculer.config";
import { replCommands } from "../platform/runtime/repl-commands";

async function main() {
	const transporter = process.env.TRANSPORTER || "nats://127.0.0.1:4222";
	process.env.TRANSPORTER = transporter;
	const broker = new ServiceBroker({
		...brokerConfig,
		nodeID: `repl-${process.pid}`,
		transporter: { type: "NATS", options: { url: transporter, maxReconnectAttempts: -1 } },
		logLevel: process.env.LOGLEVEL ? brokerConfig.logLevel : "warn",
		metrics: false,
		replOptions: { customCommands: replCommands as never }
	});
	await broker.start();
	broker.repl();
}

main().catch(err => {
	console.error(`repl: ${(err as Error).message}`);
	process.exit(1);
});
