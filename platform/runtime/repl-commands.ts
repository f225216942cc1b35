/**
 * Custom moleculer-repl commands for operators. Used by `npm run repl` and `npm run dev`.
 * They call the services' internal actions with an operator identity (admin role).
 */
import type { ServiceBroker } from "moleculer";

const operator = { meta: { user: { id: "repl-operator", role: "admin" } } };

interface Helpers {
	table: (rows: unknown[][], opts?: unknown) => string;
	kleur: {
		red(s: string): string;
		green(s: string): string;
		yellow(s: string): string;
		bold(s: string): string;
	};
}

async function report(fn: () => Promise<void>, helpers: Helpers) {
	try {
		await fn();
	} catch (err) {
		const e = err as { type?: string; message: string };
		console.log(helpers.kleur.red(`${e.type ?? "ERROR"}: ${e.message}`));
	}
}

export const replCommands = [
	{
		command: "stock <productId>",
		description: "Show the stock of a product",
		async action(broker: ServiceBroker, args: { productId: string }, helpers: Helpers) {
			await report(async () => {
				const [p] = await broker.call<any[], { ids: string[] }>("inventory.getProducts", {
					ids: [args.productId]
				});
				if (!p) return console.log(helpers.kleur.yellow(`No product ${args.productId}`));
				console.log(
					helpers.table([
						["id", "sku", "name", "price", "stock", "active"],
						[
							p.id,
							p.sku,
							p.name,
							`${(p.priceCents / 100).toFixed(2)} ${p.currency}`,
							p.stock,
							p.active
						]
					])
				);
			}, helpers);
		}
	},
	{
		command: "timeline <orderId>",
		description: "Show an order's timeline and shipment",
		async action(broker: ServiceBroker, args: { orderId: string }, helpers: Helpers) {
			await report(async () => {
				const t = await broker.call<any, { id: string }>(
					"orders.tracking",
					{ id: args.orderId },
					operator
				);
				const rows: unknown[][] = [["status", "at", "reason"]];
				for (const h of t.timeline) rows.push([h.status, h.at, h.reason ?? ""]);
				console.log(helpers.kleur.bold(`Order ${t.orderId}: ${t.status}`));
				console.log(helpers.table(rows));
				if (t.shipment)
					console.log(
						`Shipment ${t.shipment.trackingNumber} (${t.shipment.carrier}): ${t.shipment.status}`
					);
				else if (t.shipmentUnavailable)
					console.log(helpers.kleur.yellow("inventory unreachable: shipment unknown"));
			}, helpers);
		}
	}
];
