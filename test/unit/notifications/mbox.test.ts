import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { asctime, MboxFile, mboxEntry } from "../../../services/notifications/mbox";

const DATE = new Date("2026-11-03T08:05:09Z");

/** The messages of an mboxrd file, unquoted, without their separator lines. */
function readMbox(file: string): string[] {
	const text = fs.readFileSync(file, "utf8");
	return text
		.split(/^From [^\n]*\n/m)
		.slice(1)
		.map(m => m.replace(/\n\n$/, "\n").replace(/^>(>*From )/gm, "$1"));
}

describe("mboxEntry", () => {
	it("starts with a From line in asctime (UTC) and ends with a blank line", () => {
		expect(asctime(DATE)).toBe("Tue Nov  3 08:05:09 2026");
		expect(mboxEntry("Subject: hi\r\n\r\nHello\r\n", DATE)).toBe(
			"From MAILER-DAEMON Tue Nov  3 08:05:09 2026\nSubject: hi\n\nHello\n\n"
		);
	});

	it("quotes every body line that starts with From behind any number of >", () => {
		const entry = mboxEntry(
			"Subject: x\n\nFrom here\n>From there\nfrom lower case\nA From",
			DATE
		);
		expect(entry.split("\n").slice(1)).toEqual([
			"Subject: x",
			"",
			">From here",
			">>From there",
			"from lower case",
			"A From",
			"",
			""
		]);
	});
});

describe("MboxFile", () => {
	let dir: string;
	beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "shopmesh-mbox-"))));
	afterEach(() => {
		jest.restoreAllMocks();
		fs.rmSync(dir, { recursive: true, force: true });
	});

	it("creates its directory and file (owner only) and appends messages in order", async () => {
		const file = path.join(dir, "mail", "outbox.mbox");
		const mbox = new MboxFile(file);
		await mbox.append("Subject: one\n\nFrom the shop\n");
		await mbox.append("Subject: two\n\nBye\n");
		expect(readMbox(file)).toEqual([
			"Subject: one\n\nFrom the shop\n",
			"Subject: two\n\nBye\n"
		]);
		expect(fs.statSync(file).mode & 0o777).toBe(0o600);
	});

	it("writes the messages that arrive during a write together, in the order they came", async () => {
		const file = path.join(dir, "outbox.mbox");
		const appendFile = jest.spyOn(fsp, "appendFile");
		const mbox = new MboxFile(file);
		await Promise.all(
			Array.from({ length: 50 }, (_, i) => mbox.append(`Subject: ${i}\n\n.\n`))
		);
		expect(readMbox(file)).toEqual(
			Array.from({ length: 50 }, (_, i) => `Subject: ${i}\n\n.\n`)
		);
		// The first message went out alone; the 49 queued behind it in one more write.
		expect(appendFile).toHaveBeenCalledTimes(2);
	});

	it("fails the messages of a write that fails, and goes on with the next ones", async () => {
		const blocker = path.join(dir, "mail");
		fs.writeFileSync(blocker, "a file where the directory should be");
		const mbox = new MboxFile(path.join(blocker, "outbox.mbox"));
		const failed = await Promise.allSettled([
			mbox.append("Subject: a\n"),
			mbox.append("Subject: b\n")
		]);
		expect(failed.map(r => r.status)).toEqual(["rejected", "rejected"]);
		fs.rmSync(blocker);
		await mbox.append("Subject: c\n");
		expect(readMbox(path.join(blocker, "outbox.mbox"))).toEqual(["Subject: c\n"]);
	});

	it("creates the file again when it was removed meanwhile", async () => {
		const file = path.join(dir, "mail", "outbox.mbox");
		const mbox = new MboxFile(file);
		await mbox.append("Subject: before\n");
		fs.rmSync(path.join(dir, "mail"), { recursive: true });
		await mbox.append("Subject: after\n");
		expect(readMbox(file)).toEqual(["Subject: after\n"]);
	});
});
