/**
 * Ids of documents and events: the time first, then random bits, so that ids made later sort
 * later (as MongoDB's ObjectIds and UUIDv7 do) and cannot be guessed or counted (64 or more
 * random bits each, no sequence number).
 *
 * Time first because every store indexes ids in a B-tree: ids that grow with time are inserted
 * at its right edge, and the documents of the orders in flight sit together there, in cache.
 * Random bytes come from a pool filled 4 KB at a time (one call into OpenSSL per 4 KB, not per
 * id), and every id is a flat string of its own (V8 compares sliced or cons strings slower).
 */
import { randomFillSync } from "node:crypto";

const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let offset = 0;

/** `n` random bytes from the pool, copied into `target` at `at`. */
function takeRandom(target: Buffer, at: number, n: number): void {
	if (offset + n > pool.length) {
		pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
		offset = 0;
	}
	pool.copy(target, at, offset, offset + n);
	offset += n;
}

const documentId = Buffer.allocUnsafe(14);

/**
 * A new document id: 28 hex characters, the time in milliseconds (48 bits) then 64 random bits,
 * after `prefix` if one is given (`shp_` for shipments). Within one millisecond ids are in random
 * order.
 */
export function newId(prefix = ""): string {
	documentId.writeUIntBE(Date.now(), 0, 6);
	takeRandom(documentId, 6, 8);
	if (!prefix) return documentId.toString("hex");
	const text = Buffer.allocUnsafe(prefix.length + 28);
	const at = text.write(prefix, "latin1");
	writeHex(documentId, text, at);
	return text.toString("latin1", 0, at + 28);
}

const objectId = Buffer.allocUnsafe(12);

/**
 * A new MongoDB ObjectId, as 24 hex characters: the time in seconds (32 bits), then 64 random
 * bits (MongoDB's own layout puts a counter in the last 3 bytes; any 12 bytes are an ObjectId).
 */
export function newObjectIdHex(): string {
	objectId.writeUInt32BE(Math.floor(Date.now() / 1000) >>> 0, 0);
	takeRandom(objectId, 4, 8);
	return objectId.toString("hex");
}

const HEX = "0123456789abcdef";

/** The bytes of `from` as lowercase hex into `to` at `at`, a "-" before each index of `dashes`. */
function writeHex(from: Buffer, to: Buffer, at: number, dashes: readonly number[] = []): number {
	for (let i = 0; i < from.length; i++) {
		if (dashes.includes(i)) to[at++] = 0x2d;
		to[at++] = HEX.charCodeAt(from[i] >> 4);
		to[at++] = HEX.charCodeAt(from[i] & 0x0f);
	}
	return at;
}

const uuidBytes = Buffer.allocUnsafe(16);
const uuidText = Buffer.allocUnsafe(36);
const UUID_DASHES = [4, 6, 8, 10] as const;

/**
 * A new UUID version 7 (RFC 9562): the time in milliseconds (48 bits), the version, 74 random bits
 * and the variant, in the usual 8-4-4-4-12 form.
 */
export function newEventId(): string {
	uuidBytes.writeUIntBE(Date.now(), 0, 6);
	takeRandom(uuidBytes, 6, 10);
	uuidBytes[6] = 0x70 | (uuidBytes[6] & 0x0f);
	uuidBytes[8] = 0x80 | (uuidBytes[8] & 0x3f);
	writeHex(uuidBytes, uuidText, 0, UUID_DASHES);
	return uuidText.toString("latin1");
}
