import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ServiceBroker, type ServiceSchema } from "moleculer";
import { resetSettings } from "../../../platform/runtime/settings";
import { DbMixin } from "../../../platform/persistence/db.mixin";
import { importService, nedbFolders, readNedbFile } from "../../../scripts/import-nedb";

describe("npm run import:nedb", () => {
	const saved = { ...process.env };
	let dataDir: string;

	beforeEach(() => {
		dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "shopmesh-import-"));
		Object.assign(process.env, { NODE_ENV: "development", DATA_DIR: dataDir });
		delete process.env.MONGO_URI;
		resetSettings();
		fs.mkdirSync(path.join(dataDir, "orders"));
		const lines = [
			{ _id: "a", status: "pending", at: { $$date: Date.UTC(2026, 0, 2) } },
			{ _id: "b", status: "pending" },
			{ $$indexCreated: { fieldName: "userId" } },
			{ _id: "a", status: "confirmed", at: { $$date: Date.UTC(2026, 0, 2) } },
			{ _id: "b", $$deleted: true }
		];
		fs.writeFileSync(
			path.join(dataDir, "orders", "orders.db"),
			lines.map(l => JSON.stringify(l)).join("\n") + "\n"
		);
		fs.writeFileSync(path.join(dataDir, "orders", "inbox.db"), '{"_id":"i","key":"k"}\n');
	});

	afterEach(() => {
		process.env = { ...saved };
		resetSettings();
		fs.rmSync(dataDir, { recursive: true, force: true });
	});

	it("reads a datafile as NeDB does: the last line of an id wins, deletions remove", () => {
		expect(readNedbFile(path.join(dataDir, "orders", "orders.db"))).toEqual([
			{ _id: "a", status: "confirmed", at: "2026-01-02T00:00:00.000Z" }
		]);
	});

	it("moves the data into the service's SQLite file, where the service finds it, once", async () => {
		expect(nedbFolders(dataDir)).toEqual(["orders"]);
		expect(await importService(dataDir, "orders")).toEqual({ orders: 1, inbox: 1 });
		expect(nedbFolders(dataDir)).toEqual([]);
		expect(fs.existsSync(path.join(dataDir, "orders.nedb-imported", "orders.db"))).toBe(true);

		const broker = new ServiceBroker({ logger: false });
		broker.createService({
			name: "orders",
			mixins: [DbMixin({ indexes: [{ field: "status" }], stores: { inbox: [] } })]
		} as ServiceSchema);
		await broker.start();
		try {
			const svc = broker.getLocalService("orders") as any;
			expect(await svc.adapter.findOne({ status: "confirmed" })).toMatchObject({ _id: "a" });
			expect(await svc.adapter.count()).toBe(1);
			expect(await svc.stores.inbox.findOne({ key: "k" })).toMatchObject({ _id: "i" });
		} finally {
			await broker.stop();
		}
	});

	it("writes the same rows when run again over the same data", async () => {
		const copy = path.join(dataDir, "copy");
		fs.cpSync(path.join(dataDir, "orders"), copy, { recursive: true });
		await importService(dataDir, "orders");
		fs.renameSync(copy, path.join(dataDir, "orders")); // the same folder, back again
		expect(await importService(dataDir, "orders")).toEqual({ orders: 1, inbox: 1 });
		expect(fs.existsSync(path.join(dataDir, "orders.nedb-imported-2"))).toBe(true);
	});
});
