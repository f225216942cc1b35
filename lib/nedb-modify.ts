/**
 * NeDB's update, copying only the fields it changes.
 *
 * NeDB applies an update (`$set`, `$push`, ...) to a deep copy of the whole stored document and
 * then checks the whole copy's keys: an order's `$push` of one history entry copied and checked
 * its items, history and outbox too. On the order path these copies and checks were about 4% of
 * the embedded node's CPU, and much of its garbage.
 *
 * Here NeDB's own `modify` runs on a document made of only the top-level fields the update names
 * (and `_id`): every modifier keeps NeDB's semantics and errors, and those fields are copied and
 * checked as before. The other fields are shared with the stored document, whose values nothing
 * changes in place: NeDB replaces a stored document on update and hands out deep copies on every
 * read (find, findOne, the documents an update returns), so a shared value is never reachable by a
 * caller. A replacement document (no modifiers) still goes through NeDB as a whole.
 */

type Doc = Record<string, unknown>;
export type Modify = (obj: Doc, updateQuery: Doc) => Doc;

/** `modify`, but copying and checking only the top-level fields `updateQuery` names. */
export function modifyTouchedFields(modify: Modify): Modify {
	return function modifyTouched(obj, updateQuery) {
		const touched = touchedFields(updateQuery);
		if (touched === undefined) return modify(obj, updateQuery);
		const part: Doc = { _id: obj._id };
		for (const field of touched) if (Object.hasOwn(obj, field)) part[field] = obj[field];
		const changed = modify(part, updateQuery);
		let removes = false;
		for (const field of touched)
			if (Object.hasOwn(obj, field) && !Object.hasOwn(changed, field)) removes = true;
		if (!removes) return Object.assign({ ...obj }, changed);
		// A field goes ($unset): the document is built key by key rather than copied and then
		// `delete`d from, as a delete turns the object into a slow dictionary that every later
		// copy, match and serialization of the stored document paid for. The keys keep NeDB's
		// order (a changed field where it was, new ones after, the unset ones gone).
		const newDoc: Doc = {};
		for (const key in obj)
			if (!touched.has(key)) newDoc[key] = obj[key];
			else if (Object.hasOwn(changed, key)) newDoc[key] = changed[key];
		for (const key in changed) if (!Object.hasOwn(newDoc, key)) newDoc[key] = changed[key];
		return newDoc;
	};
}

/**
 * The top-level fields an update of modifiers writes to (`"a"` for `"a.b.c"`), or undefined when
 * it is anything else: a replacement document, or a malformed update that NeDB must refuse itself.
 */
function touchedFields(updateQuery: Doc): Set<string> | undefined {
	const modifiers = Object.keys(updateQuery);
	if (modifiers.length === 0) return undefined;
	const touched = new Set<string>();
	for (const modifier of modifiers) {
		const fields = updateQuery[modifier];
		if (modifier[0] !== "$" || fields === null || typeof fields !== "object") return undefined;
		for (const field of Object.keys(fields)) touched.add(field.split(".", 1)[0]);
	}
	return touched;
}
