/**
 * NeDB keeps each index in an AVL tree (@seald-io/binary-search-tree), and under orders these
 * trees were the largest block of the embedded node's main thread: in a `perf` profile at c64,
 * tree search 4.8%, NeDB's compareThings 4.5%, AVL insert 4.0%, rebalancing 2.5%, with
 * hasOwnProperty and string comparison another 1.7%. Every level of a search or an insert
 * compared the two keys twice (once for equality, once for the side), each time through
 * compareThings, which makes eight type tests before it compares two strings (ids, user ids and
 * SKUs are strings); searches recursed, re-testing at each level whether the node is empty; and
 * rebalancing computed each node's balance factor twice.
 *
 * Here, for trees ordered by compareThings (every NeDB index): search and insert walk down in a
 * loop comparing once per level, two strings are compared at once, and rebalancing reads each
 * node's heights once. The same trees come out, node for node, with the same errors (tests run
 * the library's own code beside this). Trees ordered by anything else keep the library's code.
 */
import path from "node:path";

// The tree module NeDB itself loads (resolved from NeDB's folder, should the two ever differ).
const nedbDir = path.dirname(require.resolve("@seald-io/nedb/package.json"));
// eslint-disable-next-line @typescript-eslint/no-require-imports
const trees = require(require.resolve("@seald-io/binary-search-tree", { paths: [nedbDir] })) as {
	AVLTree: TreeClass & { _AVLTree: TreeClass };
	BinarySearchTree: TreeClass;
};
const { AVLTree, BinarySearchTree } = trees;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { compareThings } = require("@seald-io/nedb/lib/model.js") as { compareThings: Compare };

/** The tree classes patched, for tests. */
export const patchedTrees = trees;

type Compare = (a: unknown, b: unknown) => number;

interface TreeNode {
	key?: unknown;
	data: unknown[];
	left: TreeNode | null;
	right: TreeNode | null;
	height?: number;
	unique: boolean;
	compareKeys: Compare;
	createLeftChild(options: { key: unknown; value: unknown }): TreeNode;
	createRightChild(options: { key: unknown; value: unknown }): TreeNode;
	rightTooSmall(): TreeNode;
	leftTooSmall(): TreeNode;
	balanceFactor(): number;
	rebalanceAlongPath(path: TreeNode[]): TreeNode;
}

type TreeClass = { prototype: Record<string, (this: any, ...args: any[]) => any> };

const hasKey = (node: TreeNode) => Object.prototype.hasOwnProperty.call(node, "key");

/** compareThings, with two strings compared directly (the same order: `<` on the strings). */
export function compareKeys(a: unknown, b: unknown): number {
	if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
	return compareThings(a, b);
}

function search(original: (key: unknown) => unknown[]) {
	return function search(this: TreeNode, key: unknown): unknown[] {
		if (this.compareKeys !== compareThings) return original.call(this, key);
		return hasKey(this) ? searchFrom(this, key) : [];
	};
}

function searchFrom(root: TreeNode, key: unknown): unknown[] {
	let node: TreeNode | null = root;
	while (node) {
		const side = compareKeys(key, node.key);
		if (side === 0) return node.data;
		node = side < 0 ? node.left : node.right;
	}
	return [];
}

function insert(original: (key: unknown, value: unknown) => TreeNode) {
	return function insert(this: TreeNode, key: unknown, value: unknown): TreeNode {
		if (this.compareKeys !== compareThings) return original.call(this, key, value);
		if (!hasKey(this)) {
			this.key = key;
			this.data.push(value);
			this.height = 1;
			return this;
		}
		return this.rebalanceAlongPath(insertionPath(this, key, value));
	};
}

/** Inserts below `root`; the nodes from the root to the new leaf, or [] if no node was added. */
function insertionPath(root: TreeNode, key: unknown, value: unknown): TreeNode[] {
	const path: TreeNode[] = [];
	let node = root;
	for (;;) {
		const side = compareKeys(key, node.key);
		if (side === 0) {
			if (node.unique) {
				const err = new Error(
					`Can't insert key ${JSON.stringify(key)}, it violates the unique constraint`
				);
				throw Object.assign(err, { key, errorType: "uniqueViolated" });
			}
			node.data.push(value);
			return [];
		}
		path.push(node);
		const next = side < 0 ? node.left : node.right;
		if (!next) {
			path.push(
				side < 0
					? node.createLeftChild({ key, value })
					: node.createRightChild({ key, value })
			);
			break;
		}
		node = next;
	}
	return path;
}

function rebalanceAlongPath(this: TreeNode, path: TreeNode[]): TreeNode {
	if (!hasKey(this)) {
		delete this.height;
		return this;
	}
	let root: TreeNode | undefined; // the new root, if the root was rotated
	for (let i = path.length - 1; i >= 0; i--) {
		const node = path[i];
		const leftHeight = node.left ? node.left.height! : 0;
		const rightHeight = node.right ? node.right.height! : 0;
		node.height = 1 + Math.max(leftHeight, rightHeight);
		const factor = leftHeight - rightHeight;
		if (factor > 1) {
			const rotated = node.rightTooSmall();
			if (i === 0) root = rotated;
			// As the library does: the node is looked at again after its rotation.
			if (node.balanceFactor() < -1) {
				const again = node.leftTooSmall();
				if (i === 0) root = again;
			}
		} else if (factor < -1) {
			const rotated = node.leftTooSmall();
			if (i === 0) root = rotated;
		}
	}
	return root ?? this;
}

let installed = false;

/** Install the faster search, insert and rebalancing on the library's classes (once). */
export function installFastIndexTrees(): void {
	if (installed) return;
	installed = true;
	const bst = BinarySearchTree.prototype;
	const avl = AVLTree._AVLTree.prototype;
	bst.search = search(bst.search);
	avl.insert = insert(avl.insert);
	avl.rebalanceAlongPath = rebalanceAlongPath;
	// The public tree forwards search to its root through `apply(arguments)`.
	AVLTree.prototype.search = function (
		this: { tree: TreeNode & { search: typeof bst.search } },
		key
	) {
		return this.tree.search(key);
	};
}
