/**
 * Stock, money, shipments and notifications stay consistent while conflicting requests race:
 * orders, cancellations, shipping, partial refunds and stock changes, many at once (drawn from a
 * fixed seed; how they interleave varies with timing). Afterwards every order's state is checked
 * against what the other services say about it.
 */
import { eventually } from "../helpers/eventually";
import { SHOP_SERVICES, bearer, startSystem, type System } from "../helpers/system";

const OPERATIONS = 300;
const WORKERS = 8;
const INITIAL_STOCK = 30;

/** mulberry32: the same sequence of operations on every run. */
function seeded(seed: number) {
	return () => {
		seed = (seed + 0x6d2b79f5) | 0;
		let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
		t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

interface Placed {
	id: string;
	token: string;
	productId: string;
	quantity: number;
	totalCents: number;
}

let sys: System;
beforeAll(async () => {
	sys = await startSystem(SHOP_SERVICES);
});
afterAll(() => sys.stop());

it("keeps stock, payments, shipments and notifications consistent under racing requests", async () => {
	const random = seeded(20261202);
	const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)];
	const admin = bearer((await sys.admin()).token);
	const customers = await Promise.all(Array.from({ length: 6 }, () => sys.customer()));
	const products: string[] = [];
	for (let i = 0; i < 3; i++) {
		const res = await sys.http
			.post("/api/products")
			.set(admin)
			.send({
				sku: `RACE-${i}-${Date.now()}`,
				name: `Race ${i}`,
				priceCents: 1000 + i,
				currency: "EUR",
				stock: INITIAL_STOCK
			});
		products.push(res.body.id);
	}

	const placed: Placed[] = [];
	const adjusted = new Map(products.map(p => [p, 0]));
	const refunded = new Map<string, number>();
	const statuses: number[] = [];
	const shipmentOf = async (orderId: string) =>
		(await sys.http.get(`/api/shipments?orderId=${orderId}`).set(admin)).body.rows ?? [];
	const paymentOf = async (orderId: string) =>
		(await sys.http.get(`/api/payments?orderId=${orderId}`).set(admin)).body.rows?.[0];

	const operations: Record<string, () => Promise<number | undefined>> = {
		async order() {
			const c = pick(customers);
			const productId = pick(products);
			const quantity = 1 + Math.floor(random() * 3);
			const res = await sys.http
				.post("/api/orders")
				.set(bearer(c.token))
				.send({
					items: [{ productId, quantity }],
					payment: {
						cardNumber: "4242424242424242",
						expMonth: 12,
						expYear: new Date().getFullYear() + 2,
						cvc: "123"
					}
				});
			if (res.status === 201)
				placed.push({
					id: res.body.id,
					token: c.token,
					productId,
					quantity,
					totalCents: res.body.totalCents
				});
			return res.status;
		},
		async cancel() {
			if (!placed.length) return;
			const o = pick(placed);
			return (await sys.http.post(`/api/orders/${o.id}/cancel`).set(bearer(o.token))).status;
		},
		async ship() {
			if (!placed.length) return;
			const [shipment] = await shipmentOf(pick(placed).id);
			if (!shipment) return;
			const step = random() < 0.6 ? "ship" : "deliver";
			return (await sys.http.post(`/api/shipments/${shipment.id}/${step}`).set(admin)).status;
		},
		async refund() {
			if (!placed.length) return;
			const o = pick(placed);
			const payment = await paymentOf(o.id);
			if (!payment) return;
			const amountCents = 1 + Math.floor(random() * 300);
			const res = await sys.http
				.post(`/api/payments/${payment.id}/refund`)
				.set(admin)
				.send({ amountCents });
			if (res.status === 200) refunded.set(o.id, (refunded.get(o.id) ?? 0) + amountCents);
			return res.status;
		},
		async adjust() {
			const id = pick(products);
			const delta = random() < 0.5 ? 2 : -1;
			const res = await sys.http.post(`/api/products/${id}/stock`).set(admin).send({ delta });
			if (res.status === 200) adjusted.set(id, adjusted.get(id)! + delta);
			return res.status;
		}
	};
	const weighted = [
		...Array<string>(5).fill("order"),
		"cancel",
		"cancel",
		"ship",
		"ship",
		"refund",
		"refund",
		"adjust"
	];

	let left = OPERATIONS;
	await Promise.all(
		Array.from({ length: WORKERS }, async () => {
			while (left-- > 0) {
				const status = await operations[pick(weighted)]();
				if (status !== undefined) statuses.push(status);
			}
		})
	);

	// Every answer was a success or a refusal of a conflicting request, never an error.
	expect(statuses.filter(s => ![200, 201, 409].includes(s))).toEqual([]);
	expect(placed.length).toBeGreaterThan(20);
	expect(statuses.filter(s => s === 409).length).toBeGreaterThan(0);

	const orders = new Map<string, any>();
	for (const o of placed)
		orders.set(o.id, (await sys.http.get(`/api/orders/${o.id}`).set(admin)).body);
	const problems: string[] = [];
	const kept = (o: Placed) => orders.get(o.id).status !== "cancelled";

	for (const id of products) {
		const stock = (await sys.http.get(`/api/products/${id}`)).body.stock;
		const sold = placed
			.filter(o => o.productId === id && kept(o))
			.reduce((n, o) => n + o.quantity, 0);
		if (stock !== INITIAL_STOCK + adjusted.get(id)! - sold)
			problems.push(
				`product ${id}: stock ${stock}, sold ${sold}, adjusted ${adjusted.get(id)}`
			);
	}
	const shipmentStatus: Record<string, string> = {
		confirmed: "preparing",
		shipped: "shipped",
		delivered: "delivered",
		cancelled: "cancelled"
	};
	for (const o of placed) {
		const order = orders.get(o.id);
		const payment = await paymentOf(o.id);
		const net = payment.capturedCents - payment.refundedCents;
		const expectedNet = kept(o) ? o.totalCents - (refunded.get(o.id) ?? 0) : 0;
		if (net !== expectedNet)
			problems.push(`order ${o.id} (${order.status}): paid ${net}, expected ${expectedNet}`);
		// A shipment follows its order.confirmed event: waited for, as the notifications below.
		const expected = (list: any[]) =>
			list.length === 1 && list[0].status === shipmentStatus[order.status as string];
		const shipments: any[] = await eventually(async () => {
			const list = await shipmentOf(o.id);
			return expected(list) && list;
		}, 10_000).catch(() => shipmentOf(o.id));
		if (!expected(shipments))
			problems.push(
				`order ${o.id} (${order.status}): shipments ${shipments.map((s: any) => s.status)}`
			);
	}
	expect(problems).toEqual([]);

	// One confirmation per order, whatever happened to it afterwards.
	const confirmations = new Map<string, number>();
	await eventually(async () => {
		confirmations.clear();
		for (const c of customers) {
			for (let page = 1; ; page++) {
				const res = await sys.http
					.get(`/api/notifications?pageSize=100&page=${page}`)
					.set(bearer(c.token));
				for (const n of res.body.rows)
					if (n.kind === "order.confirmed")
						confirmations.set(n.orderId, (confirmations.get(n.orderId) ?? 0) + 1);
				if (page >= res.body.totalPages) break;
			}
		}
		return placed.every(o => confirmations.get(o.id) === 1);
	}, 10_000).catch(() => undefined);
	expect(placed.filter(o => confirmations.get(o.id) !== 1)).toEqual([]);
});
