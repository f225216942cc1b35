import type { IncomingMessage, ServerResponse } from "node:http";
import {
	forRequestsWithBody,
	hasBody,
	type Middleware
} from "../../../../platform/http/body-limits";

const request = (headers: Record<string, string> = {}) =>
	({ headers }) as unknown as IncomingMessage;
const response = {} as ServerResponse;

describe("hasBody", () => {
	it("is what body-parser reads a body for: a Content-Length or a Transfer-Encoding", () => {
		expect(hasBody(request())).toBe(false);
		expect(hasBody(request({ "content-type": "application/json" }))).toBe(false);
		expect(hasBody(request({ "content-length": "0" }))).toBe(true);
		expect(hasBody(request({ "content-length": "17" }))).toBe(true);
		expect(hasBody(request({ "transfer-encoding": "chunked" }))).toBe(true);
		// type-is coerces the header with Number(): "" is 0, "12abc" is not a length.
		expect(hasBody(request({ "content-length": "" }))).toBe(true);
		expect(hasBody(request({ "content-length": "12abc" }))).toBe(false);
	});
});

describe("forRequestsWithBody", () => {
	function recorder() {
		const calls: string[] = [];
		const mw = (
			name: string,
			then: (next: (err?: unknown) => void) => void = n => n()
		): Middleware =>
			function (this: unknown, _req, _res, next) {
				calls.push(`${name}:${(this as { name?: string }).name}`);
				then(next);
			};
		return { calls, mw };
	}
	const service = { name: "api" };

	it("skips every middleware for a request without a body", () => {
		const { calls, mw } = recorder();
		const next = jest.fn();
		forRequestsWithBody(mw("limit"), mw("json")).call(service, request(), response, next);
		expect(calls).toEqual([]);
		expect(next).toHaveBeenCalledTimes(1);
		expect(next).toHaveBeenCalledWith();
	});

	it("runs them in order, with the gateway as `this`, for a request with a body", () => {
		const { calls, mw } = recorder();
		const next = jest.fn();
		forRequestsWithBody(mw("limit"), mw("json")).call(
			service,
			request({ "content-length": "2" }),
			response,
			next
		);
		expect(calls).toEqual(["limit:api", "json:api"]);
		expect(next).toHaveBeenCalledTimes(1);
		expect(next).toHaveBeenCalledWith();
	});

	it("stops at the first error and hands it on", () => {
		const { calls, mw } = recorder();
		const err = new Error("request entity too large");
		const next = jest.fn();
		forRequestsWithBody(
			mw("limit", n => n(err)),
			mw("json")
		).call(service, request({ "transfer-encoding": "chunked" }), response, next);
		expect(calls).toEqual(["limit:api"]);
		expect(next).toHaveBeenCalledTimes(1);
		expect(next).toHaveBeenCalledWith(err);
	});

	it("waits for a middleware that goes on later (a body being read)", async () => {
		const { calls, mw } = recorder();
		let resume: () => void = () => undefined;
		const next = jest.fn();
		forRequestsWithBody(
			mw("limit"),
			mw("json", n => (resume = () => n()))
		).call(service, request({ "content-length": "2" }), response, next);
		expect(next).not.toHaveBeenCalled();
		await Promise.resolve();
		resume();
		expect(calls).toEqual(["limit:api", "json:api"]);
		expect(next).toHaveBeenCalledTimes(1);
	});
});
