/**
 * Browser tests: Debian's Chromium driven by playwright-core, headless. Every page's console
 * errors and failed requests are collected; each test saves a screenshot under test/artifacts/.
 */
import fs from "node:fs";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const ARTIFACTS = path.join(__dirname, "..", "artifacts");

export async function launch(): Promise<Browser> {
	if (!fs.existsSync(CHROMIUM))
		throw new Error(`${CHROMIUM} is missing (apt-get install -y chromium)`);
	return chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		args: [
			"--no-sandbox",
			"--disable-gpu",
			"--disable-background-networking",
			"--disable-component-update",
			"--disable-sync"
		]
	});
}

/** A new page whose console errors and uncaught exceptions land in `errors`. */
export async function openPage(browser: Browser): Promise<{ page: Page; errors: string[] }> {
	const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
	const errors: string[] = [];
	page.on("console", msg => {
		if (msg.type() === "error") errors.push(msg.text());
	});
	page.on("pageerror", err => errors.push(err.message));
	return { page, errors };
}

export async function screenshot(page: Page, name: string): Promise<void> {
	fs.mkdirSync(ARTIFACTS, { recursive: true });
	await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Sign in on the console's form. */
export async function signIn(page: Page, email: string, password: string): Promise<void> {
	await page.fill("#email", email);
	await page.fill("#password", password);
	await page.click("#login button[type=submit]");
}

/** The instance count the page shows for each service. */
export function shownInstances(page: Page): Promise<Record<string, number>> {
	return page.$$eval("#services li", items =>
		Object.fromEntries(
			items.map(li => [(li as any).dataset.service, Number((li as any).dataset.instances)])
		)
	);
}
