/**
 * The SQLite adapter alone, in one process: a payment's life as the order path drives it (inbox
 * check, inserts, conditional updates by a unique index, an outbox pull by id, a read by id), 64
 * at a time, on a WAL file. Group commit on and off (SQLITE_GROUP_COMMIT) run in alternating
 * batches, so a busy machine weighs on each alike; CPU µs per payment for each.
 *
 *   npx tsx bench/persistence-micro.ts [rounds]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SqliteDatabase } from "../platform/persistence/sqlite";
import { SqliteAdapter } from "../platform/persistence/sqlite-adapter";

const BATCH = 1500;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "shopmesh-micro-"));
const now = () => new Date().toISOString();

async function variant(name: string, groupCommit: boolean) {
	const database = new SqliteDatabase({
		file: path.join(dir, `${name}.sqlite`),
		synchronous: "NORMAL",
		busyTimeoutMs: 5000,
		groupCommit
	});
	const payments = new SqliteAdapter(database, "payments");
	const inbox = new SqliteAdapter(database, "inbox");
	await payments.connect();
	await inbox.connect();
	await payments.ensureIndex({ field: "orderId", unique: true });
	await payments.ensureIndex({ field: "status" });
	await payments.ensureIndex({ field: "outboxAt", sparse: true });
	await inbox.ensureIndex({ field: "key", unique: true });
	let seq = 0;
	async function payment() {
		const orderId = `${name}-${seq++}`;
		const eventId = `e-${orderId}`;
		if (await inbox.findOne({ key: eventId })) return;
		await inbox.insert({ key: eventId, at: now() });
		await payments.insert({
			orderId,
			status: "pending",
			amountCents: 1007,
			currency: "EUR",
			refunds: [],
			history: [{ status: "pending", at: now() }],
			createdAt: now(),
			outboxAt: null,
			outbox: []
		});
		await payments.updateOne(
			{ orderId, status: "pending" },
			{
				$set: { status: "authorized" },
				$push: { history: { status: "authorized", at: now() } }
			}
		);
		const doc = (await payments.findOne({ orderId }))!;
		await payments.updateOne(
			{ orderId, status: "authorized" },
			{
				$set: { status: "captured", outboxAt: now() },
				$push: { outbox: { eventId, type: "payment.captured", payload: { orderId } } }
			}
		);
		await payments.updateMany(
			{ _id: doc._id, outbox: { $elemMatch: { eventId } } },
			{ $pull: { outbox: { eventId } }, $set: { outboxAt: null } }
		);
		await payments.findById(doc._id);
	}
	let cpuUs = 0;
	let done = 0;
	return {
		name,
		async batch(count: number, measured = true) {
			let left = count;
			const start = process.cpuUsage();
			await Promise.all(
				Array.from({ length: 64 }, async () => {
					while (left-- > 0) await payment();
				})
			);
			const used = process.cpuUsage(start);
			if (measured) {
				cpuUs += used.user + used.system;
				done += count;
			}
		},
		result: () => `${name}: ${(cpuUs / done).toFixed(1)} µs CPU per payment`,
		close: () => database.close()
	};
}

async function main() {
	const rounds = Number(process.argv[2] ?? 10);
	const load = os.loadavg()[0];
	const variants = [await variant("group-commit", true), await variant("commit-each", false)];
	for (const v of variants) await v.batch(2 * BATCH, false);
	for (let r = 0; r < rounds; r++)
		for (const v of r % 2 ? [...variants].reverse() : variants) await v.batch(BATCH);
	console.log(
		`${variants.map(v => v.result()).join("; ")} (${rounds} x ${BATCH} each, load ${load.toFixed(1)} → ${os.loadavg()[0].toFixed(1)})`
	);
	for (const v of variants) v.close();
	fs.rmSync(dir, { recursive: true, force: true });
}

void main();
