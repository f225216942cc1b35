/**
 * orders.cancel on one broker, with inventory and payments as stubs: the shipment is held back
 * before the order changes, and a shipment that has left stops the cancel.
 */
import { Errors, ServiceBroker, type ServiceSchema } from "moleculer";
import { toErrorBody } from "../../../services/api/http-errors";
import OrdersService from "../../../services/orders/orders.service";

const broker = new ServiceBroker({ logger: false });
const orders = broker.createService(OrdersService as unknown as ServiceSchema) as any;

/** What the stubs were asked, with the order's status at that moment. */
const calls: { action: string; orderStatus?: string }[] = [];
let shipmentAnswer: () => unknown = () => ({ status: "cancelled" });

const statusOf = async (id: string) => (await orders.adapter.findById(id))?.status;

broker.createService({
	name: "inventory",
	actions: {
		async cancelShipment(ctx: any) {
			calls.push({
				action: "inventory.cancelShipment",
				orderStatus: await statusOf(ctx.params.orderId)
			});
			return shipmentAnswer();
		},
		restock() {
			calls.push({ action: "inventory.restock" });
			return { ok: true };
		}
	}
});
broker.createService({
	name: "payments",
	actions: {
		refund() {
			calls.push({ action: "payments.refund" });
			return { status: "refunded" };
		}
	}
});

beforeAll(() => broker.start());
afterAll(() => broker.stop());
beforeEach(() => {
	calls.length = 0;
	shipmentAnswer = () => ({ status: "cancelled" });
});

const customer = { id: "user-1", role: "customer" };

async function confirmedOrder(): Promise<string> {
	const at = new Date().toISOString();
	const doc = await orders.adapter.insert({
		userId: customer.id,
		status: "confirmed",
		items: [
			{
				productId: "p1",
				sku: "SKU-1",
				name: "P",
				quantity: 1,
				unitPriceCents: 500,
				lineTotalCents: 500
			}
		],
		totalCents: 500,
		currency: "EUR",
		fingerprint: "f",
		saga: { step: "done", updatedAt: at },
		pendingActions: [],
		history: [
			{ status: "pending", at },
			{ status: "confirmed", at }
		],
		createdAt: at,
		updatedAt: at
	});
	return String(doc._id);
}

const cancel = (id: string) =>
	broker.call<any, any>("orders.cancel", { id }, { meta: { user: customer } });

it("holds the shipment back first, then cancels, refunds and restocks", async () => {
	const id = await confirmedOrder();
	const res = await cancel(id);
	expect(res.status).toBe("cancelled");
	expect(calls).toEqual([
		{ action: "inventory.cancelShipment", orderStatus: "confirmed" },
		{ action: "payments.refund" },
		{ action: "inventory.restock" }
	]);
});

it("refuses to cancel an order whose shipment has left, changing nothing", async () => {
	const id = await confirmedOrder();
	shipmentAnswer = () => {
		throw new Errors.MoleculerClientError(
			"The order's shipment is shipped",
			409,
			"INVALID_TRANSITION",
			{ status: "shipped" }
		);
	};
	const err = await cancel(id).catch((e: any) => e);
	expect(err).toMatchObject({
		code: 409,
		type: "INVALID_TRANSITION",
		data: { shipment: "shipped" }
	});
	expect(await statusOf(id)).toBe("confirmed");
	expect(calls.map(c => c.action)).toEqual(["inventory.cancelShipment"]);
});

it("fails without inventory, changing nothing (whether the parcel left cannot be known)", async () => {
	const id = await confirmedOrder();
	shipmentAnswer = () => {
		throw new Errors.ServiceNotAvailableError({ action: "inventory.cancelShipment" });
	};
	const err = await cancel(id).catch((e: any) => e);
	expect(err.type).toBe("SERVICE_NOT_AVAILABLE"); // the gateway answers it 503
	expect(toErrorBody(err).code).toBe(503);
	expect(await statusOf(id)).toBe("confirmed");
	expect(calls.map(c => c.action)).toEqual(["inventory.cancelShipment"]);
});
