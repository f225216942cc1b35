/**
 * `npm run import:nedb`: moves the NeDB data of an earlier version (DATA_DIR/<service>/<collection>.db)
 * into the services' SQLite databases (DATA_DIR/<service>.sqlite), then renames each imported
 * folder to <service>.nedb-imported. Idempotent: a document is written by its id (the same import
 * twice writes the same rows), and an imported folder is not read again.
 */
import fs from "node:fs";
import path from "node:path";
import { settings } from "../platform/runtime/settings";
import { openServiceDatabase } from "../platform/persistence/db.mixin";
import { ident } from "../platform/persistence/sqlite";
import { SqliteAdapter } from "../platform/persistence/sqlite-adapter";

type Doc = Record<string, unknown>;

/** NeDB's datafile: one JSON line per write; the last line of an id wins, `$$deleted` removes. */
export function readNedbFile(file: string): Doc[] {
	const docs = new Map<string, Doc>();
	for (const line of fs.readFileSync(file, "utf8").split("\n")) {
		if (!line.trim()) continue;
		const doc = JSON.parse(line, (_key, value) =>
			value && typeof value === "object" && typeof value.$$date === "number"
				? new Date(value.$$date).toISOString()
				: value
		) as Doc;
		if ("$$indexCreated" in doc || "$$indexRemoved" in doc) continue;
		const id = String(doc._id);
		if (doc.$$deleted === true) docs.delete(id);
		else docs.set(id, doc);
	}
	return [...docs.values()];
}

/** Import one service's folder; the number of documents written per collection. */
export async function importService(
	dataDir: string,
	service: string
): Promise<Record<string, number>> {
	const dir = path.join(dataDir, service);
	const files = fs.readdirSync(dir).filter(f => f.endsWith(".db"));
	const database = openServiceDatabase(service);
	const counts: Record<string, number> = {};
	try {
		for (const file of files) {
			const collection = file.slice(0, -3);
			const docs = readNedbFile(path.join(dir, file));
			const adapter = new SqliteAdapter(database, collection);
			await adapter.connect(); // the table, as the service creates it
			const upsert = database.db.prepare(
				`INSERT INTO ${ident(collection)} (id, doc) VALUES (?, ?) ` +
					`ON CONFLICT(id) DO UPDATE SET doc = excluded.doc`
			);
			database.transaction(() => {
				for (const doc of docs)
					upsert.run(String(doc._id), JSON.stringify({ ...doc, _id: String(doc._id) }));
			});
			counts[collection] = docs.length;
		}
	} finally {
		await database.close();
	}
	let target = `${dir}.nedb-imported`;
	for (let i = 2; fs.existsSync(target); i++) target = `${dir}.nedb-imported-${i}`;
	fs.renameSync(dir, target);
	return counts;
}

/** The services whose NeDB folders wait in `dataDir`. */
export function nedbFolders(dataDir: string): string[] {
	if (!fs.existsSync(dataDir)) return [];
	return fs
		.readdirSync(dataDir, { withFileTypes: true })
		.filter(e => e.isDirectory() && !e.name.includes("."))
		.filter(e => fs.readdirSync(path.join(dataDir, e.name)).some(f => f.endsWith(".db")))
		.map(e => e.name);
}

async function main() {
	const { dataDir, mongoUri } = settings();
	if (mongoUri) throw new Error("import:nedb writes SQLite databases: unset MONGO_URI");
	const services = nedbFolders(dataDir);
	if (services.length === 0) {
		console.log(`No NeDB data in ${dataDir}: nothing to import.`);
		return;
	}
	for (const service of services) {
		const counts = await importService(dataDir, service);
		const what = Object.entries(counts)
			.map(([c, n]) => `${c} ${n}`)
			.join(", ");
		console.log(`${service}: imported ${what || "nothing"} into ${service}.sqlite`);
	}
}

if (require.main === module)
	main().catch(err => {
		console.error(`import:nedb failed: ${(err as Error).message}`);
		process.exit(1);
	});
