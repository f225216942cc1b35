/**
 * Secrets: JWT_SECRET is required (and must not be the development default) in production, and
 * no secret, password, card number, CVC or token is ever written to the logs.
 *
 * The log test runs a full order flow (and its failures) on a broker whose logger keeps every
 * line at debug level, formatted as in production (JSON lines), plus a deep print of every
 * logged argument, then searches all of it.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import util from "node:util";
import type { ServiceBroker, ServiceSchema } from "moleculer";
import type { Loggers } from "moleculer";
import request from "supertest";
import { ADMIN } from "../helpers/system";
import { CARDS, JWT_SECRET, bearer, card, eventually, loadSystem } from "./fixtures";

const ROOT = path.resolve(__dirname, "../..");

type Bindings = Parameters<InstanceType<typeof Loggers.Formatted>["getLogHandler"]>[0];

/** Start the real entrypoint (as `npm start` does) and wait for it to exit (bounded). */
function runEntrypoint(env: Record<string, string | undefined>) {
	const childEnv: NodeJS.ProcessEnv = {
		...process.env,
		PORT: "0",
		HOST: "127.0.0.1",
		SERVICES: "users",
		...env
	};
	for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
	const child = spawn(
		process.execPath,
		[
			require.resolve("tsx/cli"),
			"node_modules/moleculer/bin/moleculer-runner.js",
			"--config",
			"moleculer.config.ts"
		],
		{ cwd: ROOT, env: childEnv, stdio: ["ignore", "pipe", "pipe"] }
	);
	let output = "";
	child.stdout.on("data", d => (output += d));
	child.stderr.on("data", d => (output += d));
	return new Promise<{ code: number | null; output: string }>(resolve => {
		const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
		child.on("exit", code => {
			clearTimeout(timer);
			resolve({ code, output });
		});
	});
}

describe("JWT_SECRET in production", () => {
	it("a missing secret stops the process with one clear line", async () => {
		const { code, output } = await runEntrypoint({
			NODE_ENV: "production",
			JWT_SECRET: undefined
		});
		expect([code, output]).toEqual([1, expect.any(String)]);
		expect(output.trim()).toBe(
			"shopmesh: configuration error: JWT_SECRET is required when NODE_ENV=production"
		);
	}, 30_000);

	it("the development default or a short secret stops it too", async () => {
		const dev = await runEntrypoint({
			NODE_ENV: "production",
			JWT_SECRET: "shopmesh-dev-secret-do-not-use-in-production"
		});
		expect(dev.code).toBe(1);
		expect(dev.output).toMatch(/JWT_SECRET must not be the development default/);
		const short = await runEntrypoint({ NODE_ENV: "production", JWT_SECRET: "short-secret" });
		expect(short.code).toBe(1);
		expect(short.output).toMatch(/JWT_SECRET must be at least 32 characters/);
		expect(`${dev.output}${short.output}`).not.toMatch(/\bat .+:\d+:\d+/); // no stack trace
	}, 30_000);
});

describe("logs", () => {
	const PASSWORD = "Correct-Horse-Battery-91";
	const NEW_PASSWORD = "Brand-New-Secret-Pass-47";
	const WRONG_PASSWORD = "Wrong-Guess-Password-63";
	const CVC = "7319";
	const SHORT_PASSWORD = "Sh0rt!x";
	const LONG_PASSWORD = `Long-${"q".repeat(130)}`;
	const SPACED = "4242 4242 4242 4242";
	const lines: string[] = [];
	const tokens: string[] = [];

	beforeAll(async () => {
		const { brokerConfig, moleculer, services, api, users } = loadSystem({
			LOGLEVEL: "debug",
			LOG_FORMAT: "json",
			ADMIN_EMAIL: ADMIN.email,
			ADMIN_PASSWORD: ADMIN.password
		});
		const consoleOptions = (brokerConfig.logger as { options: Record<string, unknown> })
			.options;

		/** Keeps each line as production prints it (JSON), and a deep print of its arguments. */
		class CaptureLogger extends moleculer.Loggers.Formatted<any> {
			override getLogHandler(bindings: Bindings) {
				const format = this.getFormatter(bindings);
				return (type: string, args: unknown[]) => {
					lines.push(format(type, args).join(" "));
					lines.push(
						args
							.map(a => (typeof a === "string" ? a : util.inspect(a, { depth: 8 })))
							.join(" ")
					);
				};
			}
		}

		const broker = new moleculer.ServiceBroker({
			...brokerConfig,
			nodeID: `secrets-${process.pid}`,
			transporter: null,
			logger: new CaptureLogger({ ...consoleOptions, level: "debug", colors: false }),
			metrics: false,
			tracing: false
		});
		const gateway = broker.createService(api as ServiceSchema);
		for (const svc of [users, ...services]) broker.createService(svc as ServiceSchema);
		await broker.start();
		try {
			await runFlow(request((gateway as any).server), broker);
		} finally {
			await broker.stop();
		}
	}, 30_000);

	/** Everything a customer and an admin do, with the failures a careless log would echo. */
	async function runFlow(http: ReturnType<typeof request>, broker: ServiceBroker) {
		const email = `logged-${Date.now()}@shopmesh.test`;
		const register = await http
			.post("/api/users")
			.send({ email, password: PASSWORD, name: "L" });
		expect(register.status).toBe(201);
		for (const password of [SHORT_PASSWORD, LONG_PASSWORD, { $ne: SHORT_PASSWORD }])
			expect(
				(
					await http
						.post("/api/users")
						.send({ email: "weak@shopmesh.test", password, name: "W" })
				).status
			).toBe(422);
		const long = await http.post("/api/users/login").send({ email, password: LONG_PASSWORD });
		expect(long.status).toBe(422);
		const wrong = await http.post("/api/users/login").send({ email, password: WRONG_PASSWORD });
		expect(wrong.status).toBe(401);
		await http.post("/api/users/login").send({ email, password: { $gt: WRONG_PASSWORD } });
		const login = await http.post("/api/users/login").send({ email, password: PASSWORD });
		const token: string = login.body.token;
		const admin = await http.post("/api/users/login").send(ADMIN);
		const adminToken: string = admin.body.token;
		tokens.push(token, adminToken);

		const product = await http
			.post("/api/products")
			.set(bearer(adminToken))
			.send({
				sku: `LOG-${Date.now()}`,
				name: "Logged",
				priceCents: 900,
				currency: "EUR",
				stock: 50
			});
		const items = [{ productId: product.body.id, quantity: 1 }];
		const place = (payment: unknown) =>
			http
				.post("/api/orders")
				.set(bearer(token))
				.set("Idempotency-Key", `key-${Math.random()}`)
				.send({ items, payment });
		const ok = await place(card(CARDS.ok, CVC));
		expect(ok.status).toBe(201);
		expect((await place(card(SPACED, CVC))).status).toBe(201);
		expect((await place(card(CARDS.declined, CVC))).status).toBe(402);
		expect((await place(card(CARDS.badLuhn, CVC))).status).toBe(422);
		expect((await place({ ...card(CARDS.ok, CVC), expYear: 2001 })).status).toBe(422);
		expect((await place({ ...card(CARDS.ok, CVC), cvc: `${CVC}9` })).status).toBe(422);
		expect((await place({ ...card(CARDS.ok, CVC), cardNumber: `${CARDS.ok}x` })).status).toBe(
			422
		);

		await http.get(`/api/orders/${ok.body.id}/tracking`).set(bearer(token));
		const payments = await http.get(`/api/payments?orderId=${ok.body.id}`).set(bearer(token));
		const refund = await http
			.post(`/api/payments/${payments.body.rows[0].id}/refund`)
			.set(bearer(adminToken))
			.send({ amountCents: 100 });
		expect(refund.status).toBe(200);
		expect(
			(await http.post(`/api/orders/${ok.body.id}/cancel`).set(bearer(token))).status
		).toBe(200);
		await eventually(async () => {
			const n = await http.get("/api/notifications").set(bearer(token));
			return n.body.rows?.length >= 2;
		});
		await http.get("/api/orders").set(bearer(`${token}x`));
		const changed = await http
			.post("/api/users/me/password")
			.set(bearer(token))
			.send({ currentPassword: PASSWORD, newPassword: NEW_PASSWORD });
		expect(changed.status).toBe(200);
		tokens.push(changed.body.token);
		await http.get("/api/users/me").set(bearer(token));
		await http
			.post("/api/users/me/password")
			.set(bearer(changed.body.token))
			.send({ currentPassword: WRONG_PASSWORD, newPassword: PASSWORD });

		// Failures deep in the flow: the database of notifications breaks, payments goes away
		// while an order is placed (the saga compensates and the gateway logs a 5xx).
		const notifications = broker.getLocalService("notifications") as any;
		notifications.adapter.find = async () => {
			throw new Error("database down");
		};
		expect((await http.get("/api/notifications").set(bearer(changed.body.token))).status).toBe(
			500
		);
		await broker.destroyService(broker.getLocalService("payments")!);
		const down = await http
			.post("/api/orders")
			.set(bearer(changed.body.token))
			.send({ items, payment: card(CARDS.ok, CVC) });
		expect(down.status).toBe(503);
	}

	it("were captured at debug level (the capture works)", () => {
		expect(lines.length).toBeGreaterThan(50);
		expect(lines.join("\n")).toMatch(/"level":"debug"/);
		expect(lines.join("\n")).toMatch(/POST \/api\/orders/);
		// The failures at the end were logged too (5xx are logged at error level).
		expect(lines.join("\n")).toMatch(/"level":"error".*failed/);
	});

	it.each([
		["the password", PASSWORD],
		["the new password", NEW_PASSWORD],
		["a wrong password", WRONG_PASSWORD],
		["the admin password", ADMIN.password],
		["the card number", CARDS.ok],
		["the spaced card number", SPACED],
		["the declined card number", CARDS.declined],
		["the invalid card number", CARDS.badLuhn],
		["a malformed card number", `${CARDS.ok}x`],
		// As a token of its own: five digits turn up inside random hex ids now and then.
		["a malformed CVC", new RegExp(`(?<![0-9a-z])${CVC}9(?![0-9a-z])`, "i")],
		["a too short password", SHORT_PASSWORD],
		["a too long password", LONG_PASSWORD],
		["JWT_SECRET", JWT_SECRET]
	] as [string, string | RegExp][])("never contain %s", (_what, secret) => {
		const hits = lines.filter(line =>
			typeof secret === "string" ? line.includes(secret) : secret.test(line)
		);
		expect(hits).toEqual([]);
	});

	it("never contain the CVC", () => {
		// Not as a dash-separated group of a request's UUID, where four random digits turn up.
		const leak = new RegExp(`(?<![\\w-])${CVC}(?![\\w-])|cvc\\W+\\d`, "i");
		const hits = lines.filter(line => leak.test(line));
		expect(hits).toEqual([]);
	});

	it("never contain a bearer token or its signature", () => {
		expect(tokens.length).toBe(3);
		for (const token of tokens) {
			const signature = token.split(".")[2];
			const hits = lines.filter(line => line.includes(signature));
			expect(hits).toEqual([]);
		}
	});
});
