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
