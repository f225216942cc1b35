/**
 * OWASP API2: broken authentication.
 *
 * Tokens are HS256 JWTs pinned to JWT_SECRET, JWT_ISSUER and JWT_AUDIENCE (platform/http/jwt.ts); the
 * gateway also asks users whether the token's user still exists with the same password version.
 * Login failures look and take alike whether the email exists or not, and are throttled per
 * account and per client (LOGIN_MAX_FAILURES, LOGIN_CLIENT_MAX_FAILURES).
 *
 * This system hashes with the production scrypt cost, so the timing test can see a skipped KDF.
 */
import { createHmac } from "node:crypto";
import jwt from "jsonwebtoken";
import type { Agent } from "node:http";
import {
	JWT_AUDIENCE,
	JWT_ISSUER,
	JWT_SECRET,
	bearer,
	clientAgent,
	startShop,
	type Shop
} from "./fixtures";

const ACCOUNT_LIMIT = 3;
const CLIENT_LIMIT = 10;

let shop: Shop;
let alice: { token: string; id: string; email: string; password: string };

beforeAll(async () => {
	shop = await startShop({
		PASSWORD_HASH_COST: "16384",
		LOGIN_MAX_FAILURES: String(ACCOUNT_LIMIT),
		LOGIN_CLIENT_MAX_FAILURES: String(CLIENT_LIMIT),
		LOGIN_THROTTLE_WINDOW_MS: "60000"
	});
	alice = await shop.customer("Alice");
});
afterAll(() => shop?.stop());

const b64url = (value: object | string) =>
	Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");

/** A token as users signs it, with any claim or option changed. */
function sign(
	claims: Record<string, unknown> = {},
	opts: jwt.SignOptions = {},
	secret: string = JWT_SECRET
) {
	return jwt.sign({ role: "customer", pwv: 0, ...claims }, secret, {
		algorithm: "HS256",
		subject: alice.id,
		issuer: JWT_ISSUER,
		audience: JWT_AUDIENCE,
		expiresIn: 600,
		...opts
	});
}

/** A protected route that needs a valid session, and what it answers to this token. */
const ordersWith = (token: string) => shop.http.get("/api/orders").set(bearer(token));

function expectUnauthorized(res: { status: number; body: any; headers: any }) {
	expect(res.status).toBe(401);
	expect(res.body).toMatchObject({ code: 401, type: "UNAUTHORIZED" });
	expect(res.headers["www-authenticate"]).toMatch(/^Bearer/);
}

describe("forged and stale tokens are refused with 401", () => {
	it("a token signed as users signs it is accepted (the forging below is right)", async () => {
		const res = await ordersWith(sign());
		expect(res.status).toBe(200);
	});

	it("a wrong signature", async () => {
		expectUnauthorized(await ordersWith(sign({}, {}, "another-secret-another-secret-123")));
	});

	it("a valid token whose claims were changed afterwards", async () => {
		const [header, , signature] = alice.token.split(".");
		const payload = JSON.parse(Buffer.from(alice.token.split(".")[1], "base64url").toString());
		const tampered = `${header}.${b64url({ ...payload, role: "admin" })}.${signature}`;
		expectUnauthorized(await shop.http.get("/api/users").set(bearer(tampered)));
	});

	it("alg none, with and without a signature", async () => {
		const now = Math.floor(Date.now() / 1000);
		const payload = b64url({
			sub: alice.id,
			role: "customer",
			pwv: 0,
			iss: JWT_ISSUER,
			aud: JWT_AUDIENCE,
			iat: now,
			exp: now + 600
		});
		for (const alg of ["none", "None", "NONE"]) {
			const unsigned = `${b64url({ alg, typ: "JWT" })}.${payload}`;
			expectUnauthorized(await ordersWith(`${unsigned}.`));
			const sig = createHmac("sha256", JWT_SECRET).update(unsigned).digest("base64url");
			expectUnauthorized(await ordersWith(`${unsigned}.${sig}`));
		}
	});

	it("another HMAC algorithm with the right secret", async () => {
		expectUnauthorized(await ordersWith(sign({}, { algorithm: "HS512" })));
	});

	it("an expired token", async () => {
		const past = Math.floor(Date.now() / 1000) - 120;
		const expired = jwt.sign(
			{ role: "customer", pwv: 0, exp: past, iat: past - 600 },
			JWT_SECRET,
			{ algorithm: "HS256", subject: alice.id, issuer: JWT_ISSUER, audience: JWT_AUDIENCE }
		);
		expectUnauthorized(await ordersWith(expired));
	});

	it("a token not valid yet", async () => {
		expectUnauthorized(await ordersWith(sign({}, { notBefore: 300 })));
	});

	it("a wrong issuer or audience, or none", async () => {
		expectUnauthorized(await ordersWith(sign({}, { issuer: "someone-else" })));
		expectUnauthorized(await ordersWith(sign({}, { audience: "another-api" })));
		const { iss: _iss, aud: _aud, ...bare } = jwt.decode(sign()) as jwt.JwtPayload;
		expectUnauthorized(await ordersWith(jwt.sign(bare, JWT_SECRET, { algorithm: "HS256" })));
	});

	it("a token of a user that does not exist", async () => {
		expectUnauthorized(await ordersWith(sign({}, { subject: "NoSuchUser000000" })));
	});

	it("a token of a deleted user, whether it was used before or not", async () => {
		const c = await shop.customer("Doomed");
		const unused = (
			await shop.http.post("/api/users/login").send({ email: c.email, password: c.password })
		).body.token as string;
		expect((await ordersWith(c.token)).status).toBe(200); // its session is cached now

		// An operator deletes the account through the users service (which drops cached sessions).
		const users = shop.broker.getLocalService("users") as any;
		expect(await users.adapter.removeMany({ _id: c.id })).toBe(1);
		await users.clearCache();

		expectUnauthorized(await ordersWith(c.token));
		expectUnauthorized(await ordersWith(unused));
		expectUnauthorized(await shop.http.get("/api/users/me").set(bearer(c.token)));
	});

	it("tokens issued before a password change", async () => {
		const c = await shop.customer("Changer");
		expect((await ordersWith(c.token)).status).toBe(200);
		const changed = await shop.http
			.post("/api/users/me/password")
			.set(bearer(c.token))
			.send({ currentPassword: c.password, newPassword: "a-brand-new-password" });
		expect(changed.status).toBe(200);

		expectUnauthorized(await ordersWith(c.token));
		expectUnauthorized(await shop.http.get("/api/users/me").set(bearer(c.token)));
		expect((await ordersWith(changed.body.token)).status).toBe(200);
	});

	it("a role claim is not trusted: the role comes from the account", async () => {
		const res = await shop.http.get("/api/users").set(bearer(sign({ role: "admin" })));
		expect(res.status).toBe(403);
		expect(res.body.type).toBe("FORBIDDEN");
	});

	it("malformed Authorization headers, also on public routes", async () => {
		for (const header of [
			"Bearer",
			"Bearer ",
			`Basic ${b64url("a:b")}`,
			`Bearer ${alice.token} ${alice.token}`,
			"Bearer not.a.jwt",
			`Bearer ${"x".repeat(2000)}`
		]) {
			for (const url of ["/api/orders", "/api/products"]) {
				const res = await shop.http.get(url).set("Authorization", header);
				expectUnauthorized(res);
			}
		}
	});
});

describe("login failures", () => {
	const login = (email: string, password: string, agent?: Agent) => {
		const req = shop.http.post("/api/users/login");
		if (agent) req.agent(agent);
		return req.send({ email, password });
	};

	it("answer a wrong password and an unknown email with the same status, body and headers", async () => {
		const agent = clientAgent("127.0.0.20");
		const wrong = await login(alice.email, "wrong-password-1", agent);
		const unknown = await login("nobody-here@shopmesh.test", "wrong-password-1", agent);
		expect(wrong.status).toBe(401);
		expect(unknown.status).toBe(401);
		expect(unknown.body).toEqual(wrong.body);
		expect(wrong.body).toMatchObject({ type: "INVALID_CREDENTIALS" });
		const stable = (h: Record<string, string>) => {
			const { date: _d, "x-request-id": _r, "x-rate-limit-remaining": _x, ...rest } = h;
			return rest;
		};
		expect(stable(unknown.headers)).toEqual(stable(wrong.headers));
		await login(alice.email, alice.password, agent); // resets alice's account counter
	});

	it("take about the same time: an unknown email still runs the password hash", async () => {
		// Wrong passwords for existing accounts, spread so no account reaches its limit; each
		// attempt from its own client address, so no client does either.
		const accounts = await Promise.all([1, 2, 3, 4].map(i => shop.customer(`Timing ${i}`)));
		const timed = async (email: string, n: number) => {
			const agent = clientAgent(`127.0.1.${n}`);
			const start = process.hrtime.bigint();
			const res = await login(email, "not-the-password", agent);
			const ms = Number(process.hrtime.bigint() - start) / 1e6;
			expect(res.status).toBe(401);
			return ms;
		};
		const known: number[] = [];
		const unknown: number[] = [];
		for (let i = 0; i < 8; i++) {
			known.push(await timed(accounts[i % accounts.length].email, 2 * i + 1));
			unknown.push(await timed(`unknown-${i}-${Date.now()}@shopmesh.test`, 2 * i + 2));
		}
		const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
		const ratio = median(unknown) / median(known);
		expect(ratio).toBeGreaterThan(0.5);
		expect(ratio).toBeLessThan(2);
	});
});

describe("repeated failed logins are throttled", () => {
	const login = (email: string, password: string, agent: Agent) =>
		shop.http.post("/api/users/login").agent(agent).send({ email, password });

	it("per account: after the limit even the right password waits, with 429 and Retry-After", async () => {
		const victim = await shop.customer("Victim");
		const attacker = clientAgent("127.0.0.21");
		for (let i = 0; i < ACCOUNT_LIMIT; i++)
			expect((await login(victim.email, `guess-${i}-password`, attacker)).status).toBe(401);

		const blocked = await login(victim.email, `guess-x-password`, attacker);
		expect(blocked.status).toBe(429);
		expect(blocked.body).toMatchObject({ code: 429, type: "RATE_LIMITED" });
		const retryAfter = Number(blocked.headers["retry-after"]);
		expect(retryAfter).toBeGreaterThanOrEqual(1);
		expect(retryAfter).toBeLessThanOrEqual(60);

		// The account is throttled, from any client and with the right password too.
		const elsewhere = await login(victim.email, victim.password, clientAgent("127.0.0.22"));
		expect(elsewhere.status).toBe(429);
		// Other accounts are not.
		const other = await login(alice.email, alice.password, attacker);
		expect(other.status).toBe(200);
	});

	it("per account, the same way for an email that does not exist", async () => {
		const agent = clientAgent("127.0.0.23");
		const email = `ghost-${Date.now()}@shopmesh.test`;
		for (let i = 0; i < ACCOUNT_LIMIT; i++)
			expect((await login(email, `guess-${i}-password`, agent)).status).toBe(401);
		const blocked = await login(email, "guess-x-password", agent);
		expect(blocked.status).toBe(429);
		expect(blocked.body.type).toBe("RATE_LIMITED");
	});

	it("per client: many accounts guessed from one address block that address only", async () => {
		const target = await shop.customer("Target");
		const sprayer = clientAgent("127.0.0.24");
		for (let i = 0; i < CLIENT_LIMIT; i++) {
			const res = await login(
				`spray-${i}-${Date.now()}@shopmesh.test`,
				"Summer2024!",
				sprayer
			);
			expect(res.status).toBe(401);
		}
		const blocked = await login(target.email, target.password, sprayer);
		expect(blocked.status).toBe(429);
		expect(Number(blocked.headers["retry-after"])).toBeGreaterThanOrEqual(1);

		const fromElsewhere = await login(target.email, target.password, clientAgent("127.0.0.25"));
		expect(fromElsewhere.status).toBe(200);
	});

	it("guessing the current password on a password change counts too", async () => {
		const c = await shop.customer("Guessed");
		const agent = clientAgent("127.0.0.26");
		const change = (currentPassword: string) =>
			shop.http
				.post("/api/users/me/password")
				.agent(agent)
				.set(bearer(c.token))
				.send({ currentPassword, newPassword: "a-new-password-1" });
		for (let i = 0; i < ACCOUNT_LIMIT; i++)
			expect((await change(`guess-${i}-password`)).status).toBe(401);
		const blocked = await change(c.password);
		expect(blocked.status).toBe(429);
		expect(blocked.body.type).toBe("RATE_LIMITED");
	});
});
