/**
 * A second process for the adapter contract's race: opens the `race` service's SQLite file in
 * DATA_DIR and tries RACE_N conditional decrements of document RACE_ID; prints how many won.
 */
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { DbMixin } from "../../platform/persistence/db.mixin";

async function main() {
	const broker = new ServiceBroker({ logger: false });
	broker.createService({
		name: "race",
		mixins: [DbMixin({ indexes: [{ field: "key", unique: true }], stores: { extra: [] } })]
	} as ServiceSchema);
	await broker.start();
	const svc = broker.getLocalService("race") as any;
	let wins = 0;
	for (let i = 0; i < Number(process.env.RACE_N); i++) {
		const won = await svc.updateOne(
			svc.adapter,
			{ _id: process.env.RACE_ID, stock: { $gte: 1 } },
			{ $inc: { stock: -1 }, $push: { takers: process.pid } }
		);
		if (won) wins++;
		await new Promise(r => setImmediate(r));
	}
	await broker.stop();
	process.stdout.write(`${wins}\n`);
}

void main();
