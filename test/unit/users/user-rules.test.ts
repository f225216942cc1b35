import {
	normalizeEmail,
	passwordProblem,
	pickProfileUpdate,
	toPublicUser,
	type UserDoc
} from "../../../services/users/user-rules";
import { hashPassword, needsRehash, verifyPassword } from "../../../services/users/passwords";

const doc: UserDoc = {
	_id: "u1",
	email: "ann@example.com",
	name: "Ann",
	role: "customer",
	passwordHash: "scrypt$1024$8$1$salt$hash",
	passwordVersion: 2,
	createdAt: "2026-01-01T00:00:00.000Z",
	updatedAt: "2026-01-01T00:00:00.000Z"
};

describe("user rules", () => {
	it("compares emails case-insensitively and without surrounding spaces", () => {
		expect(normalizeEmail("  Ann@Example.COM ")).toBe("ann@example.com");
	});

	it("never exposes the password hash or version", () => {
		const pub = toPublicUser(doc);
		expect(pub).toEqual({
			id: "u1",
			email: "ann@example.com",
			name: "Ann",
			role: "customer",
			createdAt: doc.createdAt,
			updatedAt: doc.updatedAt
		});
		expect(JSON.stringify(pub)).not.toMatch(/password/i);
	});

	it("lets a profile update change only name, phone and address", () => {
		expect(
			pickProfileUpdate({
				name: "B",
				role: "admin",
				email: "x@y.z",
				passwordHash: "h",
				_id: "x",
				phone: "+1 555"
			})
		).toEqual({ name: "B", phone: "+1 555" });
	});

	it("rejects short, long and single-character passwords", () => {
		expect(passwordProblem("short")).toMatch(/at least 8/);
		expect(passwordProblem("x".repeat(129))).toMatch(/at most 128/);
		expect(passwordProblem("aaaaaaaaaa")).toMatch(/repeated/);
		expect(passwordProblem("correct horse")).toBeNull();
	});
});

describe("password hashing", () => {
	it("verifies the right password and refuses a wrong one", async () => {
		const hash = await hashPassword("correct horse", 1024);
		expect(hash).toMatch(/^scrypt\$1024\$8\$1\$/);
		expect(hash).not.toContain("correct horse");
		await expect(verifyPassword("correct horse", hash)).resolves.toBe(true);
		await expect(verifyPassword("wrong horse", hash)).resolves.toBe(false);
	});

	it("salts every hash", async () => {
		expect(await hashPassword("same", 1024)).not.toBe(await hashPassword("same", 1024));
	});

	it("refuses a malformed stored hash instead of throwing", async () => {
		await expect(verifyPassword("x", "plain-text")).resolves.toBe(false);
	});

	it("asks for a rehash when the cost went up", async () => {
		const hash = await hashPassword("pw", 1024);
		expect(needsRehash(hash, 1024)).toBe(false);
		expect(needsRehash(hash, 16384)).toBe(true);
	});
});
