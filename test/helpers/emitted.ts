/**
 * The events a broker's services emit, captured instead of delivered: for unit tests of one
 * service on one broker. Cleared before each test.
 */
import type { ServiceBroker } from "moleculer";

export interface Emitted {
	name: string;
	payload: any;
}

export function captureEmits(broker: ServiceBroker): Emitted[] {
	const emitted: Emitted[] = [];
	const spy = jest.spyOn(broker, "emit");
	beforeEach(() => {
		emitted.length = 0;
		spy.mockClear();
		spy.mockImplementation((async (name: string, payload: unknown) => {
			emitted.push({ name, payload });
		}) as any);
	});
	return emitted;
}

/**
 * A service that receives the given events as any consuming service would (through the broker,
 * after the publisher's outbox relay): for integration tests of the whole system.
 */
export function eventListener(names: string[]): { service: object; received: Emitted[] } {
	const received: Emitted[] = [];
	const service = {
		name: `event-listener-${names.join("-").replace(/\W/g, "_")}`,
		events: Object.fromEntries(
			names.map(name => [
				name,
				(ctx: { params: unknown }) => {
					received.push({ name, payload: ctx.params });
				}
			])
		)
	};
	return { service, received };
}
