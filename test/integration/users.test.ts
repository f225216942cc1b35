import UsersService from "../../services/users/users.service";
import { eventListener } from "../helpers/emitted";
import { eventually } from "../helpers/eventually";
import { bearer, startSystem, type System, ADMIN, INTERNAL_ERROR_BODY } from "../helpers/system";

let sys: System;
const registered = eventListener(["user.registered"]);
beforeAll(async () => {
	sys = await startSystem([registered.service]);
});
afterAll(() => sys.stop());

describe("POST /api/users (register)", () => {
	it("creates a customer and never returns a password field", async () => {
		const res = await sys.http
			.post("/api/users")
			.send({ email: "New@Example.com", password: "long-enough-1", name: "New" });
		expect(res.status).toBe(201);
		expect(res.body).toMatchObject({ email: "new@example.com", name: "New", role: "customer" });
		expect(JSON.stringify(res.body)).not.toMatch(/password/i);
	});

	it("refuses a second account with the same email in any case with 409 USER_EXISTS", async () => {
		await sys.http
			.post("/api/users")
			.send({ email: "dup@example.com", password: "long-enough-1", name: "A" });
		const res = await sys.http
			.post("/api/users")
			.send({ email: "DUP@example.com", password: "long-enough-1", name: "B" });
		expect(res.status).toBe(409);
		expect(res.body).toMatchObject({ code: 409, type: "USER_EXISTS" });
	});

	it("announces each new account once with user.registered, as a domain event", async () => {
		const register = (email: string) =>
			sys.http.post("/api/users").send({ email, password: "long-enough-1", name: "Ev" });
		const first = await register("event-1@example.com");
		const second = await register("event-2@example.com");
		expect((await register("EVENT-1@example.com")).status).toBe(409);
		const events = () =>
			registered.received
				.map(e => e.payload)
				.filter(p => [first.body.id, second.body.id].includes(p.userId));
		await eventually(async () => events().length >= 2);
		expect(events()).toEqual([
			{ userId: first.body.id, eventId: expect.any(String), occurredAt: expect.any(String) },
			{ userId: second.body.id, eventId: expect.any(String), occurredAt: expect.any(String) }
		]);
		expect(events()[0].eventId).not.toBe(events()[1].eventId);
		// Written with the account and relayed: nothing left in its outbox.
		const users = sys.broker.getLocalService("users") as any;
		expect((await users.adapter.findById(first.body.id)).outbox).toEqual([]);
	});

	it("names every missing or malformed field with 422", async () => {
		const res = await sys.http.post("/api/users").send({ email: "not-an-email", name: "" });
		expect(res.status).toBe(422);
		expect(res.body.type).toBe("VALIDATION_ERROR");
		expect(res.body.data.map((d: { field: string }) => d.field).sort()).toEqual([
			"email",
			"name",
			"password"
		]);
	});

	it("cannot register an admin", async () => {
		const res = await sys.http.post("/api/users").send({
			email: "sneaky@example.com",
			password: "long-enough-1",
			name: "S",
			role: "admin"
		});
		expect(res.status).toBe(201);
		expect(res.body.role).toBe("customer");
	});
});

describe("POST /api/users/login", () => {
	it("returns a bearer token for the right password", async () => {
		const c = await sys.customer();
		const res = await sys.http
			.post("/api/users/login")
			.send({ email: c.email.toUpperCase(), password: c.password });
		expect(res.status).toBe(200);
		expect(res.body).toMatchObject({
			tokenType: "Bearer",
			expiresIn: expect.any(Number),
			user: { id: c.id }
		});
		expect(res.body.token.split(".")).toHaveLength(3);
	});

	it("answers a wrong password and an unknown email alike", async () => {
		const c = await sys.customer();
		const wrong = await sys.http
			.post("/api/users/login")
			.send({ email: c.email, password: "wrong-password" });
		const unknown = await sys.http
			.post("/api/users/login")
			.send({ email: "nobody@example.com", password: "wrong-password" });
		expect(wrong.status).toBe(401);
		expect(unknown.status).toBe(401);
		expect(wrong.body).toEqual(unknown.body);
	});

	it("rejects query operators in the body with 422, never a login", async () => {
		const res = await sys.http
			.post("/api/users/login")
			.send({ email: { $gt: "" }, password: { $gt: "" } });
		expect(res.status).toBe(422);
		expect(res.body.type).toBe("VALIDATION_ERROR");
		expect(res.body.token).toBeUndefined();
	});
});

describe("/api/users/me", () => {
	it("gives the caller's profile with a token and 401 without one", async () => {
		const c = await sys.customer("Me");
		const me = await sys.http.get("/api/users/me").set(bearer(c.token));
		expect(me.status).toBe(200);
		expect(me.body).toMatchObject({ id: c.id, email: c.email, name: "Me" });
		expect(JSON.stringify(me.body)).not.toMatch(/password/i);

		const anon = await sys.http.get("/api/users/me");
		expect(anon.status).toBe(401);
		expect(anon.body).toMatchObject({ code: 401, type: "UNAUTHORIZED" });
	});

	it("updates the name but never role, email or password hash", async () => {
		const c = await sys.customer("Before");
		const res = await sys.http.patch("/api/users/me").set(bearer(c.token)).send({
			name: "After",
			role: "admin",
			email: "other@example.com",
			passwordHash: "x",
			_id: "abc"
		});
		expect(res.status).toBe(200);
		expect(res.body).toMatchObject({
			id: c.id,
			name: "After",
			role: "customer",
			email: c.email
		});

		const admin = await sys.http.get("/api/users").set(bearer(c.token));
		expect(admin.status).toBe(403);
		const relogin = await sys.http
			.post("/api/users/login")
			.send({ email: c.email, password: c.password });
		expect(relogin.body.user.role).toBe("customer");
	});

	it("changes the password and refuses tokens issued before", async () => {
		const c = await sys.customer();
		const res = await sys.http
			.post("/api/users/me/password")
			.set(bearer(c.token))
			.send({ currentPassword: c.password, newPassword: "brand-new-password" });
		expect(res.status).toBe(200);
		expect((await sys.http.get("/api/users/me").set(bearer(c.token))).status).toBe(401);
		expect((await sys.http.get("/api/users/me").set(bearer(res.body.token))).status).toBe(200);
		const old = await sys.http
			.post("/api/users/login")
			.send({ email: c.email, password: c.password });
		expect(old.status).toBe(401);
	});

	it("refuses a wrong current password", async () => {
		const c = await sys.customer();
		const res = await sys.http
			.post("/api/users/me/password")
			.set(bearer(c.token))
			.send({ currentPassword: "not-it-at-all", newPassword: "brand-new-password" });
		expect(res.status).toBe(401);
		expect(res.body.type).toBe("INVALID_CREDENTIALS");
	});
});

describe("roles", () => {
	it("bootstraps the admin from ADMIN_EMAIL/ADMIN_PASSWORD and lets it list users", async () => {
		const admin = await sys.admin();
		const res = await sys.http.get("/api/users?pageSize=5").set(bearer(admin.token));
		expect(res.status).toBe(200);
		expect(res.body.rows.length).toBeLessThanOrEqual(5);
		expect(res.body.total).toBeGreaterThan(0);
		expect(JSON.stringify(res.body)).not.toMatch(/passwordHash/);
	});

	it("refuses customers (403) and anonymous callers (401) on admin routes", async () => {
		const c = await sys.customer();
		expect((await sys.http.get("/api/users").set(bearer(c.token))).status).toBe(403);
		expect((await sys.http.get("/api/users")).status).toBe(401);
	});

	it("keeps the bootstrap idempotent across restarts", async () => {
		// Starting users again against the same settings must not create a second admin.
		const admin = await sys.admin();
		const before = await sys.http.get("/api/users?pageSize=100").set(bearer(admin.token));
		const svc = sys.broker.getLocalService("users") as any;
		await svc.ensureAdmin();
		const after = await sys.http.get("/api/users?pageSize=100").set(bearer(admin.token));
		const admins = (r: any) => r.body.rows.filter((u: any) => u.email === ADMIN.email).length;
		expect(admins(before)).toBe(1);
		expect(admins(after)).toBe(1);
	});
});

describe("gateway errors", () => {
	it("answers an unknown route with 404 JSON", async () => {
		const res = await sys.http.get("/api/does-not-exist");
		expect(res.status).toBe(404);
		expect(res.body).toMatchObject({ code: 404, type: "NOT_FOUND" });
	});

	it("does not expose internal actions", async () => {
		expect((await sys.http.get("/api/users/resolveSession")).status).toBe(404);
		expect((await sys.http.post("/api/users/contact").send({ id: "x" })).status).toBe(404);
		expect((await sys.http.get("/api/users/find")).status).toBe(404);
		expect((await sys.http.get("/api/~node/list")).status).toBe(404);
	});

	it("refuses invalid, malformed and forged tokens with 401", async () => {
		expect((await sys.http.get("/api/users/me").set(bearer("abc.def.ghi"))).status).toBe(401);
		expect(
			(await sys.http.get("/api/users/me").set("Authorization", "Basic Zm9vOmJhcg==")).status
		).toBe(401);
	});

	it("answers a body over the limit with 413 and bad JSON with 400", async () => {
		const big = await sys.http
			.post("/api/users/login")
			.set("Content-Type", "application/json")
			.send(JSON.stringify({ email: "a@b.c", password: "x".repeat(200_000) }));
		expect(big.status).toBe(413);
		expect(big.body.type).toBe("PAYLOAD_TOO_LARGE");
		const bad = await sys.http
			.post("/api/users/login")
			.set("Content-Type", "application/json")
			.send("{bad");
		expect(bad.status).toBe(400);
		expect(bad.body.type).toBe("INVALID_JSON");
	});

	it("sets security headers on every response", async () => {
		for (const res of [await sys.http.get("/api/health"), await sys.http.get("/api/nope")]) {
			expect(res.headers["x-content-type-options"]).toBe("nosniff");
			expect(res.headers["x-frame-options"]).toBe("DENY");
			expect(res.headers["x-powered-by"]).toBeUndefined();
		}
	});

	it("never shows a stack trace or internal message on a 5xx", async () => {
		const users = sys.broker.getLocalService("users") as any;
		const spy = jest
			.spyOn(users.adapter, "findOne")
			.mockRejectedValue(new Error("secret internal detail at /srv/app.js:42"));
		try {
			const res = await sys.http
				.post("/api/users/login")
				.send({ email: "a@b.co", password: "whatever1" });
			expect(res.status).toBe(500);
			expect(res.body).toEqual(INTERNAL_ERROR_BODY);
		} finally {
			spy.mockRestore();
		}
	});

	it("answers 503 when a needed service is gone", async () => {
		const users = sys.broker.getLocalService("users")!;
		await sys.broker.destroyService(users);
		try {
			const res = await sys.http
				.post("/api/users/login")
				.send({ email: "a@b.co", password: "whatever1" });
			expect(res.status).toBe(503);
			expect(res.body.type).toBe("SERVICE_UNAVAILABLE");
			const ready = await sys.http.get("/api/ready");
			expect(ready.status).toBe(503);
			expect(ready.body.missing).toContain("users");
		} finally {
			sys.broker.createService(UsersService as any);
			await sys.broker.waitForServices("users");
		}
	});
});

describe("probes", () => {
	it("GET /api/health answers 200", async () => {
		const res = await sys.http.get("/api/health");
		expect(res.status).toBe(200);
		expect(res.body.status).toBe("ok");
	});
});
