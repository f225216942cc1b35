/**
 * The index trees with lib/nedb-trees.ts installed against the library's own code (a fresh copy
 * of the modules, left as published): the same operations give the same trees, node for node, and
 * the same errors.
 */
import { compareKeys, installFastIndexTrees, patchedTrees } from "../../../lib/nedb-trees";

installFastIndexTrees();
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { AVLTree } = require("@seald-io/binary-search-tree");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { compareThings } = require("@seald-io/nedb/lib/model.js");

let Original: any;
let originalCompare: any;
jest.isolateModules(() => {
	/* eslint-disable @typescript-eslint/no-require-imports */
	Original = require("@seald-io/binary-search-tree").AVLTree;
	originalCompare = require("@seald-io/nedb/lib/model.js").compareThings;
	/* eslint-enable @typescript-eslint/no-require-imports */
});

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number) {
	let s = seed >>> 0;
	return () => {
		s = (s + 0x6d2b79f5) >>> 0;
		let t = s;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

/** Keys of every kind NeDB indexes, few enough of each that they repeat. */
function keyFrom(next: () => number): unknown {
	const n = Math.floor(next() * 40);
	switch (Math.floor(next() * 9)) {
		case 0:
			return n;
		case 1:
			return String(n);
		case 2:
			return n.toString(16).padStart(3, "0");
		case 3:
			return next() < 0.5;
		case 4:
			return next() < 0.5 ? null : undefined;
		case 5:
			return new Date(Date.UTC(2026, 0, 1 + (n % 7)));
		case 6:
			return [n % 3, String(n % 5)];
		case 7:
			return { a: n % 4 };
		default:
			return `${"abcdefgh"[n % 8]}${n}`;
	}
}

interface Node {
	key?: unknown;
	data: unknown[];
	height?: number;
	left: Node | null;
	right: Node | null;
}
const shape = (node: Node | null): unknown =>
	node && {
		key: node.key,
		data: [...node.data],
		height: node.height,
		left: shape(node.left),
		right: shape(node.right)
	};

const attempt = (fn: () => void) => {
	try {
		fn();
		return undefined;
	} catch (err) {
		const e = err as Error & { key?: unknown; errorType?: string };
		return { message: e.message, key: e.key, errorType: e.errorType };
	}
};

it("patches the trees NeDB's indexes are made of", () => {
	// eslint-disable-next-line @typescript-eslint/no-require-imports
	const Index = require("@seald-io/nedb/lib/indexes.js");
	const index = new Index({ fieldName: "sku", unique: true });
	expect(index.tree).toBeInstanceOf(patchedTrees.AVLTree);
	index.insert([
		{ _id: "a", sku: "x" },
		{ _id: "b", sku: "y" }
	]);
	expect(index.getMatching("y")).toEqual([{ _id: "b", sku: "y" }]);
});

it("compares with the library's own code, not with itself", () => {
	expect(Original).not.toBe(AVLTree);
	expect(AVLTree._AVLTree.prototype.insert).not.toBe(Original._AVLTree.prototype.insert);
});

describe("compareKeys", () => {
	it("orders every pair of keys as compareThings does", () => {
		const next = random(7);
		for (let i = 0; i < 20_000; i++) {
			const a = keyFrom(next);
			const b = keyFrom(next);
			expect(compareKeys(a, b)).toBe(compareThings(a, b));
		}
	});
});

describe.each([
	["unique", true],
	["not unique", false]
])("an index tree (%s)", (_name, unique) => {
	it.each([1, 2, 3, 4])("builds the same tree as the library's code (seed %i)", seed => {
		const next = random(seed);
		const ours = new AVLTree({ unique, compareKeys: compareThings });
		const theirs = new Original({ unique, compareKeys: originalCompare });
		const values: unknown[][] = [];
		for (let i = 0; i < 3000; i++) {
			const key = keyFrom(next);
			const op = next();
			if (op < 0.6) {
				expect(attempt(() => ours.insert(key, i))).toEqual(
					attempt(() => theirs.insert(key, i))
				);
				values.push([key, i]);
			} else if (op < 0.75 && values.length) {
				// Delete a value inserted earlier, or a whole key.
				const [k, v] = values[Math.floor(next() * values.length)];
				const value = next() < 0.5 ? v : undefined;
				ours.delete(k, value);
				theirs.delete(k, value);
			} else {
				expect(ours.search(key)).toEqual(theirs.search(key));
			}
			if (i % 500 === 0) expect(shape(ours.tree)).toEqual(shape(theirs.tree));
		}
		expect(shape(ours.tree)).toEqual(shape(theirs.tree));
		expect(() => ours.checkIsAVLT()).not.toThrow();
		expect(ours.getNumberOfKeys()).toBe(theirs.getNumberOfKeys());
	});
});

it("leaves trees with another order to the library's code", () => {
	const byLength = (a: string, b: string) => a.length - b.length;
	const tree = new AVLTree({ unique: true, compareKeys: byLength });
	tree.insert("aa", 1);
	tree.insert("b", 2);
	expect(tree.search("xx")).toEqual([1]);
	expect(() => tree.insert("zz", 3)).toThrow(/unique constraint/);
	expect(() => tree.checkIsAVLT()).not.toThrow();
});

it("keeps an empty tree empty for searches", () => {
	const tree = new AVLTree({ unique: false, compareKeys: compareThings });
	expect(tree.search("a")).toEqual([]);
	tree.insert("a", 1);
	tree.delete("a");
	expect(tree.search("a")).toEqual([]);
	expect(() => tree.checkIsAVLT()).not.toThrow();
});
