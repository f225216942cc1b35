/// <reference lib="dom" />
/** The operator console in a browser, against the whole system in one process. */
import type { Browser } from "playwright-core";
import OpsService from "../../services/api/ops/ops.service";
import { ADMIN, SHOP_SERVICES, bearer, startSystem, type System } from "../helpers/system";
import { launch, openPage, screenshot, shownInstances, signIn } from "./browser";

const SIX = ["api", "inventory", "notifications", "orders", "payments", "users"];

describe("the operator console, embedded", () => {
	let sys: System;
	let browser: Browser;
	let url: string;

	beforeAll(async () => {
		sys = await startSystem([...SHOP_SERVICES, OpsService as never]);
		const port = (sys.broker.getLocalService("api") as any).listening.port;
		url = `http://127.0.0.1:${port}/api/ops`;
		browser = await launch();
	});
	afterAll(async () => {
		await browser?.close();
		await sys?.stop();
	});

	it("lets an admin sign in and shows all six services, and orders placed in the traffic chart", async () => {
		const { page, errors } = await openPage(browser);
		await page.goto(url);
		await signIn(page, ADMIN.email, ADMIN.password);
		await page.waitForSelector("#console:not([hidden])");
		await page.waitForFunction(
			six =>
				six.every((s: string) =>
					document.querySelector(`#services li[data-service="${s}"][data-instances="1"]`)
				),
			SIX
		);
		const shown = await shownInstances(page);
		for (const s of SIX) expect(shown[s]).toBe(1);

		// Orders placed now appear as a line of the requests chart, and in the table.
		const admin = await sys.admin();
		const product = await sys.http
			.post("/api/products")
			.set(bearer(admin.token))
			.send({
				sku: `B-${Date.now()}`,
				name: "Mug",
				priceCents: 900,
				currency: "EUR",
				stock: 50
			});
		const customer = await sys.customer();
		for (let i = 0; i < 5; i++) {
			const res = await sys.http
				.post("/api/orders")
				.set(bearer(customer.token))
				.send({
					items: [{ productId: product.body.id, quantity: 1 }],
					payment: {
						cardNumber: "4242424242424242",
						expMonth: 12,
						expYear: 2040,
						cvc: "123"
					}
				});
			expect(res.status).toBe(201);
		}
		await page.waitForFunction(
			() =>
				/\borders\.create\b/.test(
					document.getElementById("traffic-panel")!.dataset.actions ?? ""
				),
			undefined,
			{ timeout: 10_000 }
		);
		const legend = await page.$$eval("#chart-rps .u-legend .u-series", rows =>
			rows.map(r => r.textContent)
		);
		expect(legend.join(" ")).toContain("orders.create");
		await page.waitForFunction(() => {
			const dd = Array.from(document.querySelectorAll("#business dt")).find(
				dt => dt.textContent === "orders confirmed"
			);
			return dd && Number(dd.nextElementSibling!.textContent) >= 5;
		});
		await screenshot(page, "ops-console-admin");
		expect(errors).toEqual([]);
		await page.close();
	});

	it("refuses a customer on the page (403), and the data without a token (401)", async () => {
		const customer = await sys.customer();
		const { page, errors } = await openPage(browser);
		await page.goto(url);
		await signIn(page, customer.email, customer.password);
		await page.waitForSelector("#login-error:not([hidden])");
		expect(await page.textContent("#login-error")).toContain("Only an admin");
		expect(await page.isHidden("#console")).toBe(true);
		const statuses = await page.evaluate(async token => {
			const none = await fetch("/api/ops/snapshot");
			const customerAnswer = await fetch("/api/ops/stream", {
				headers: { Authorization: `Bearer ${token}` }
			});
			return [none.status, customerAnswer.status];
		}, customer.token);
		expect(statuses).toEqual([401, 403]);
		await screenshot(page, "ops-console-customer-refused");
		// The browser logs each refused fetch as a console error; nothing else may appear.
		expect(errors.filter(e => !/status of 40[13]/.test(e))).toEqual([]);
		await page.close();
	});
});
