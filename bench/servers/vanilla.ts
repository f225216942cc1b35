/**
 * Reference: vanilla moleculer-web and moleculer, every option at its default (no bulkhead,
 * circuit breaker, retries, tracking, cacher, auth, rate limit or error shaping), as the issue's
 * "vanilla" figures were measured. Usage:
 *   vanilla.ts service <nats url> <namespace>   the remote action `vremote.hello`
 *   vanilla.ts gateway <nats url> <namespace>   moleculer-web on a free loopback port with
 *       GET /api/local  -> `vlocal.hello` in the same process
 *       GET /api/remote -> `vremote.hello` on the other process, over NATS
 * Prints `READY <port>` (the gateway once it sees the remote service).
 */
import type { AddressInfo } from "node:net";
import { ServiceBroker } from "moleculer";
import ApiGateway from "moleculer-web";
import { exitWithParent } from "./lifeline";

const hello = { hello: { handler: () => ({ hello: "world" }) } };

async function main() {
	const [mode, url, namespace] = process.argv.slice(2);
	const broker = new ServiceBroker({
		namespace,
		nodeID: `vanilla-${mode}-${process.pid}`,
		transporter: { type: "NATS", options: { url } },
		logger: false
	});
	if (mode === "service") {
		broker.createService({ name: "vremote", actions: hello });
		await broker.start();
		console.log("READY");
	} else {
		broker.createService({ name: "vlocal", actions: hello });
		const api = broker.createService({
			name: "api",
			mixins: [ApiGateway],
			settings: {
				port: 0,
				ip: "127.0.0.1",
				routes: [
					{
						path: "/api",
						aliases: { "GET /local": "vlocal.hello", "GET /remote": "vremote.hello" }
					}
				]
			}
		});
		await broker.start();
		await broker.waitForServices("vremote", 30_000);
		const server = (api as unknown as { server: { address(): AddressInfo } }).server;
		console.log(`READY ${server.address().port}`);
	}
	exitWithParent(() => broker.stop());
}

main().catch(err => {
	console.error(err);
	process.exit(1);
});
