/** Poll until `check` returns something truthy; throws once `ms` have passed without. */
export async function eventually<T>(
	check: () => Promise<T | undefined | null | false>,
	ms = 3000
): Promise<T> {
	const deadline = Date.now() + ms;
	for (;;) {
		const value = await check();
		if (value) return value;
		if (Date.now() > deadline) throw new Error("condition not met in time");
		await new Promise(r => setTimeout(r, 20));
	}
}
