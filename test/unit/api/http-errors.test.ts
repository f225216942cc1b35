import { Errors } from "moleculer";
import { DatabaseBusyError } from "../../../platform/persistence/sqlite";
import { toErrorBody } from "../../../services/api/http-errors";

describe("error shaping", () => {
	it("keeps client errors with their type and failing fields, without the rejected value", () => {
		const err = new Errors.ValidationError("Parameters validation error!", "VALIDATION_ERROR", [
			{ type: "email", field: "email", message: "bad email", actual: "secret-value" }
		]);
		const body = toErrorBody(err);
		expect(body).toEqual({
			name: "ValidationError",
			message: "Parameters validation error!",
			code: 422,
			type: "VALIDATION_ERROR",
			data: [{ type: "email", field: "email", message: "bad email" }]
		});
	});

	it("turns unreachable services into 503 without internals", () => {
		const body = toErrorBody(
			new Errors.ServiceNotAvailableError({ action: "payments.authorize", nodeID: "n1" })
		);
		expect(body.code).toBe(503);
		expect(body.type).toBe("SERVICE_UNAVAILABLE");
		expect(JSON.stringify(body)).not.toMatch(/payments|n1/);
	});

	it("turns a database busy past its timeout into 503, without the file's name", () => {
		const body = toErrorBody(new DatabaseBusyError("/srv/data/payments.sqlite", 5000));
		expect(body).toMatchObject({ code: 503, type: "SERVICE_UNAVAILABLE" });
		expect(JSON.stringify(body)).not.toMatch(/payments|locked|5000/);
	});

	it("hides every detail of an unexpected error", () => {
		const err = new Error("ECONNREFUSED 10.0.0.5:27017 at Mongo.connect");
		const body = toErrorBody(err);
		expect(body).toEqual({
			name: "InternalServerError",
			message: "Internal server error",
			code: 500,
			type: "INTERNAL_ERROR"
		});
	});

	it("maps body parser failures", () => {
		expect(toErrorBody({ status: 413, type: "entity.too.large", message: "x" }).code).toBe(413);
		expect(
			toErrorBody({ status: 400, type: "entity.parse.failed", message: "x" })
		).toMatchObject({
			code: 400,
			type: "INVALID_JSON"
		});
	});

	it("gives timeouts a 504 and rate limits a stable type", () => {
		expect(toErrorBody(new Errors.RequestTimeoutError({ action: "a", nodeID: "n" })).code).toBe(
			504
		);
		expect(
			toErrorBody({ code: 429, type: "RATE_LIMIT_EXCEEDED", message: "Rate limit exceeded" })
				.type
		).toBe("RATE_LIMITED");
	});
});
