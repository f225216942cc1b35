import { randomUUID } from "node:crypto";
import type { ServiceSchema } from "moleculer";
import { resetSettings } from "../../platform/runtime/settings";
import NotificationsService from "../../services/notifications/notifications.service";
import UsersService from "../../services/users/users.service";
import { eventually } from "../helpers/eventually";
import { bearer, startSystem, type System } from "../helpers/system";

const Notifications = NotificationsService as unknown as ServiceSchema;

let sys: System;
beforeAll(async () => {
	sys = await startSystem([Notifications]);
});
afterAll(() => sys.stop());

const service = (s: System = sys) => s.broker.getLocalService("notifications") as any;
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));
const newId = () => randomUUID().replace(/-/g, "").slice(0, 16);

/** Wait until every notification the service started has finished. */
const settled = (s: System = sys) => eventually(async () => service(s).durableInflight.size === 0);

function orderEvent(userId: string, over: Record<string, unknown> = {}) {
	return {
		eventId: randomUUID(),
		occurredAt: new Date().toISOString(),
		orderId: newId(),
		userId,
		status: "confirmed",
		totalCents: 12345,
		currency: "EUR",
		items: [
			{
				productId: "p1",
				sku: "MUG",
				name: "Blue mug",
				quantity: 1,
				unitPriceCents: 12345,
				lineTotalCents: 12345
			}
		],
		...over
	};
}

async function listOf(token: string, query = "") {
	const res = await sys.http.get(`/api/notifications${query}`).set(bearer(token));
	expect(res.status).toBe(200);
	return res.body;
}

async function noteFor(token: string, orderId: string, s: System = sys) {
	return eventually(async () => {
		const res = await s.http.get("/api/notifications").set(bearer(token));
		const note = res.body.rows?.find((n: any) => n.orderId === orderId);
		return note && note.deliveredVia ? note : null;
	});
}

describe("order.confirmed", () => {
	it("emails the customer by name and keeps it in the inbox", async () => {
		const c = await sys.customer("Ada");
		const event = orderEvent(c.id);
		await sys.broker.emit("order.confirmed", event);
		const note = await noteFor(c.token, event.orderId);

		expect(note).toMatchObject({
			id: expect.any(String),
			kind: "order.confirmed",
			title: `Order ${event.orderId.slice(-8)} confirmed`,
			orderId: event.orderId,
			read: false,
			channels: { email: "sent", inbox: "stored" },
			deliveredVia: "email"
		});
		expect(note.body).toContain("123.45");
		for (const hidden of ["_id", "dedupeKey", "emailError"])
			expect(note).not.toHaveProperty(hidden);

		const mail = service().email.outbox.filter((m: any) => m.to === c.email);
		expect(mail).toHaveLength(1);
		expect(mail[0].subject).toBe(note.title);
		expect(mail[0].text).toMatch(/^Hello Ada,/);
		expect(mail[0].text).toContain("123.45");
	});

	it("tells an event delivered twice only once", async () => {
		const c = await sys.customer();
		const event = orderEvent(c.id);
		await Promise.all([
			sys.broker.emit("order.confirmed", event),
			sys.broker.emit("order.confirmed", event)
		]);
		await noteFor(c.token, event.orderId);
		await sys.broker.emit("order.confirmed", event);
		await settled();

		const body = await listOf(c.token);
		expect(body.total).toBe(1);
		expect(service().email.outbox.filter((m: any) => m.to === c.email)).toHaveLength(1);
	});

	it("never makes the producer wait for the email", async () => {
		const c = await sys.customer();
		const email = service().email;
		const send = email.transporter.sendMail.bind(email.transporter);
		const spy = jest
			.spyOn(email.transporter, "sendMail")
			.mockImplementation(async (...args: any[]) => {
				await sleep(800);
				return send(...args);
			});
		try {
			const event = orderEvent(c.id);
			const started = Date.now();
			await sys.broker.emit("order.confirmed", event);
			expect(Date.now() - started).toBeLessThan(400);
			expect((await noteFor(c.token, event.orderId)).deliveredVia).toBe("email");
		} finally {
			spy.mockRestore();
		}
	});

	it("ignores a malformed event without failing", async () => {
		const before = await service().adapter.count();
		const { userId: _userId, ...noUser } = orderEvent("x");
		await expect(sys.broker.emit("order.confirmed", noUser)).resolves.not.toThrow();
		await sys.broker.emit("order.confirmed", orderEvent("bad id!"));
		await settled();
		expect(await service().adapter.count()).toBe(before);
	});
});

describe("every handled event", () => {
	it("notifies shipped, delivered, rejected, cancelled and refunded orders", async () => {
		const c = await sys.customer();
		const orderId = newId();
		const base = orderEvent(c.id, { orderId });
		await sys.broker.emit("order.shipped", {
			...base,
			eventId: randomUUID(),
			carrier: "DHL",
			trackingNumber: "TRK-1"
		});
		await sys.broker.emit("order.delivered", { ...base, eventId: randomUUID() });
		await sys.broker.emit("order.rejected", {
			...base,
			eventId: randomUUID(),
			reason: "CARD_DECLINED"
		});
		await sys.broker.emit("order.cancelled", { ...base, eventId: randomUUID() });
		await sys.broker.emit("payment.refunded", {
			eventId: randomUUID(),
			paymentId: newId(),
			orderId,
			userId: c.id,
			amountCents: 12345,
			currency: "EUR",
			status: "refunded",
			refundedCents: 12345
		});
		await settled();

		const body = await listOf(c.token);
		expect(body.total).toBe(5);
		const byKind = Object.fromEntries(body.rows.map((n: any) => [n.kind, n]));
		expect(Object.keys(byKind).sort()).toEqual([
			"order.cancelled",
			"order.delivered",
			"order.rejected",
			"order.shipped",
			"payment.refunded"
		]);
		expect(byKind["order.shipped"].body).toContain("TRK-1");
		expect(byKind["order.rejected"].body).toContain("the card was declined");
		expect(byKind["payment.refunded"].title).toContain("123.45");
		for (const n of body.rows) expect(n.deliveredVia).toBe("email");
	});
});

describe("GET /api/notifications and POST /api/notifications/:id/read", () => {
	it("pages the caller's own notifications, newest first", async () => {
		const c = await sys.customer();
		for (let i = 0; i < 3; i++) {
			await sys.broker.emit("order.delivered", orderEvent(c.id));
			await sleep(5);
		}
		await settled();

		const first = await listOf(c.token, "?page=1&pageSize=2");
		expect(first).toMatchObject({ total: 3, page: 1, pageSize: 2, totalPages: 2 });
		expect(first.rows).toHaveLength(2);
		const second = await listOf(c.token, "?page=2&pageSize=2");
		expect(second.rows).toHaveLength(1);
		const dates = [...first.rows, ...second.rows].map((n: any) => n.createdAt);
		expect(dates).toEqual([...dates].sort().reverse());

		const tooBig = await sys.http.get("/api/notifications?pageSize=101").set(bearer(c.token));
		expect(tooBig.status).toBe(422);
	});

	it("shows nothing of another customer's, and answers 404 for it", async () => {
		const owner = await sys.customer();
		const other = await sys.customer();
		const event = orderEvent(owner.id);
		await sys.broker.emit("order.confirmed", event);
		const note = await noteFor(owner.token, event.orderId);

		const others = await listOf(other.token);
		expect(others.rows.some((n: any) => n.orderId === event.orderId)).toBe(false);
		expect(others.total).toBe(0);

		const steal = await sys.http
			.post(`/api/notifications/${note.id}/read`)
			.set(bearer(other.token));
		expect([steal.status, steal.body.type]).toEqual([404, "NOT_FOUND"]);
		const unknown = await sys.http
			.post("/api/notifications/doesnotexist0000/read")
			.set(bearer(owner.token));
		expect([unknown.status, unknown.body.type]).toEqual([404, "NOT_FOUND"]);
		expect((await listOf(owner.token)).rows[0].read).toBe(false);
	});

	it("marks read idempotently and filters on unread", async () => {
		const c = await sys.customer();
		const a = orderEvent(c.id);
		const b = orderEvent(c.id);
		await sys.broker.emit("order.confirmed", a);
		await sys.broker.emit("order.confirmed", b);
		const note = await noteFor(c.token, a.orderId);
		await noteFor(c.token, b.orderId);

		const read = await sys.http.post(`/api/notifications/${note.id}/read`).set(bearer(c.token));
		expect(read.status).toBe(200);
		expect(read.body).toMatchObject({ id: note.id, read: true, readAt: expect.any(String) });
		const again = await sys.http
			.post(`/api/notifications/${note.id}/read`)
			.set(bearer(c.token));
		expect(again.status).toBe(200);
		expect(again.body.readAt).toBe(read.body.readAt);

		const unread = await listOf(c.token, "?unread=true");
		expect(unread.rows.map((n: any) => n.orderId)).toEqual([b.orderId]);
		const readOnes = await listOf(c.token, "?unread=false");
		expect(readOnes.rows.map((n: any) => n.orderId)).toEqual([a.orderId]);
		expect((await listOf(c.token)).total).toBe(2);
	});

	it("refuses anonymous callers with 401 and a malformed id with 422", async () => {
		expect((await sys.http.get("/api/notifications")).status).toBe(401);
		expect((await sys.http.post("/api/notifications/abc/read")).status).toBe(401);
		const c = await sys.customer();
		const bad = await sys.http.post("/api/notifications/a.b/read").set(bearer(c.token));
		expect(bad.status).toBe(422);
	});
});

describe("fallback to the inbox", () => {
	it("keeps the notification in the inbox when email fails, with no secret recorded", async () => {
		const c = await sys.customer();
		const email = service().email;
		const spy = jest
			.spyOn(email.transporter, "sendMail")
			.mockRejectedValue(
				new Error("Connection to smtp://mailer:s3cr3t@smtp.example.com:587 refused")
			);
		try {
			const event = orderEvent(c.id);
			await sys.broker.emit("order.confirmed", event);
			const note = await noteFor(c.token, event.orderId);
			expect(note).toMatchObject({
				deliveredVia: "inbox",
				channels: { email: "failed", inbox: "stored" }
			});
			const doc = await service().adapter.findOne({ orderId: event.orderId });
			expect(doc.emailError).toEqual(expect.any(String));
			expect(JSON.stringify(doc)).not.toMatch(/s3cr3t|smtp\.example/);
		} finally {
			spy.mockRestore();
		}
		expect(email.outbox.some((m: any) => m.to === c.email)).toBe(false);
	});

	it("skips email for an unknown user and says why", async () => {
		const userId = newId();
		const event = orderEvent(userId);
		await sys.broker.emit("order.confirmed", event);
		await settled();
		const doc = await service().adapter.findOne({ orderId: event.orderId });
		expect(doc).toMatchObject({
			userId,
			deliveredVia: "inbox",
			channels: { email: "skipped", inbox: "stored" },
			emailError: "users.contact: USER_NOT_FOUND"
		});
	});

	describe("with SMTP_URL pointing at a dead server", () => {
		let dead: System;
		beforeAll(async () => {
			process.env.SMTP_URL = "smtp://mailer:s3cr3t@127.0.0.1:1";
			try {
				dead = await startSystem([Notifications]);
			} finally {
				delete process.env.SMTP_URL;
				resetSettings();
			}
		});
		afterAll(() => dead.stop());

		it("records the email as failed and delivers via the inbox", async () => {
			expect(service(dead).email.kind).toBe("smtp");
			const c = await dead.customer();
			const event = orderEvent(c.id);
			await dead.broker.emit("order.confirmed", event);
			const note = await noteFor(c.token, event.orderId, dead);
			expect(note).toMatchObject({
				deliveredVia: "inbox",
				channels: { email: "failed", inbox: "stored" }
			});
			const doc = await service(dead).adapter.findOne({ orderId: event.orderId });
			expect(JSON.stringify(doc)).not.toMatch(/s3cr3t|mailer/);
		});
	});

	// Last: recreating users empties its in-memory database.
	it("still notifies through the inbox while users is down", async () => {
		const c = await sys.customer();
		await sys.broker.destroyService(sys.broker.getLocalService("users")!);
		try {
			const event = orderEvent(c.id);
			await sys.broker.emit("order.confirmed", event);
			const note = await noteFor(c.token, event.orderId);
			expect(note).toMatchObject({
				deliveredVia: "inbox",
				channels: { email: "skipped", inbox: "stored" }
			});
			const doc = await service().adapter.findOne({ orderId: event.orderId });
			expect(doc.emailError).toMatch(/^users\.contact: SERVICE_NOT_(FOUND|AVAILABLE)$/);
			expect(service().email.outbox.some((m: any) => m.to === c.email)).toBe(false);
		} finally {
			sys.broker.createService(UsersService as any);
			await sys.broker.waitForServices("users");
		}
	});
});
