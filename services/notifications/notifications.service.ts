/**
 * notifications: tells customers what happens to their orders. Public routes:
 * services/api/routes.ts (list, markRead).
 *
 * Owns the `notifications` database, the in-app inbox: one document per (event, kind), made
 * unique by `dedupeKey`, so an event delivered twice is told once. For each handled event the
 * inbox document is claimed first, then the email goes out (primary channel) and the document
 * records how it went; when email fails or the address is unknown, the inbox is what reached
 * the user (deliveredVia "inbox"). Until the email attempt ends, a document shows
 * `channels.email: "pending"` and `deliveredVia: null`.
 *
 * Event handlers never fail their producer: the work runs detached from the emitting call (an
 * in-process emit would otherwise wait for SMTP), errors are logged, and stopping waits for
 * work in flight.
 */
import type { ActionParams, Context, Service, ServiceSchema } from "moleculer";
import { DbMixin, isDuplicateKeyError, type DbMethods } from "../../platform/persistence/db.mixin";
import { DurableEvents } from "../../platform/messaging/durable-events.mixin";
import { nowIso } from "../../platform/runtime/clock";
import { notFound, unauthorized } from "../../contracts/errors";
import type { DomainEvent } from "../../contracts/events";
import { CurrencyParam, IdParam, PageParams } from "../../contracts/params";
import type { AuthMeta } from "../../types/moleculer";
import {
	EmailChannel,
	type Channel,
	type ChannelName,
	type OutgoingNotification,
	type Recipient
} from "./channels";
import { deliver, safeErrorMessage } from "./delivery";
import { render, type NotificationKind } from "./templates";

export type EmailStatus = "pending" | "sent" | "failed" | "skipped";

/** What the owner sees of a notification: no dedupe key, no internal error. */
export interface Notification {
	id: string;
	userId: string;
	kind: NotificationKind;
	title: string;
	body: string;
	orderId?: string;
	eventId: string;
	read: boolean;
	readAt?: string;
	channels: { email: EmailStatus; inbox: "stored" };
	deliveredVia: ChannelName | null;
	createdAt: string;
}

/** The stored document: the owner's view, and the dedupe key and error kept inside. */
export interface NotificationDoc extends Omit<Notification, "id"> {
	_id: string;
	dedupeKey: string;
	/** Why no email went out (error code or short message); internal, not in the API. */
	emailError?: string;
	updatedAt: string;
}

export function toNotification(doc: NotificationDoc): Notification {
	const n: Notification = {
		id: String(doc._id),
		userId: doc.userId,
		kind: doc.kind,
		title: doc.title,
		body: doc.body,
		eventId: doc.eventId,
		read: doc.read,
		channels: { email: doc.channels?.email, inbox: "stored" },
		deliveredVia: doc.deliveredVia ?? null,
		createdAt: doc.createdAt
	};
	if (doc.orderId != null) n.orderId = doc.orderId;
	if (doc.readAt != null) n.readAt = doc.readAt;
	return n;
}

const EventIdParam = { type: "string", min: 1, max: 200 } as const;
const CentsParam = { type: "number", integer: true, min: 0 } as const;
const TextParam = { type: "string", max: 500, optional: true } as const;

/** What the templates read of an order event; anything else in it is ignored. */
const OrderEventParams = {
	eventId: EventIdParam,
	userId: IdParam,
	orderId: IdParam,
	totalCents: CentsParam,
	currency: CurrencyParam,
	items: { type: "array", optional: true },
	reason: TextParam
} as const;

const ShippedEventParams = {
	...OrderEventParams,
	carrier: { ...TextParam, max: 100 },
	trackingNumber: { ...TextParam, max: 100 }
} as const;

const RefundEventParams = {
	eventId: EventIdParam,
	userId: IdParam,
	orderId: IdParam,
	currency: CurrencyParam,
	refundedCents: CentsParam
} as const;

interface ListParams {
	page: number;
	pageSize: number;
	unread?: boolean;
}

type NotificationsThis = Service & DbMethods & NotificationsVars;
interface NotificationsVars {
	adapter: any;
	email: EmailChannel;
	notify(ctx: Context<DomainEvent<NotificationKind>>, kind: NotificationKind): Promise<void>;
	recipientOf(
		ctx: Context,
		userId: string
	): Promise<{ recipient: Recipient } | { recipient?: undefined; reason: string }>;
}

const notificationNotFound = () => notFound("Notification not found");

/** An event handler: validated payload in, detached notification out. */
function notifyOn(kind: NotificationKind, params: ActionParams) {
	return {
		params,
		// Durable (platform/messaging/durable-events.mixin.ts): a failure is retried, so it must surface.
		handler(this: NotificationsThis, ctx: Context<DomainEvent<NotificationKind>>) {
			return this.notify(ctx, kind);
		}
	};
}

const NotificationsService = {
	name: "notifications",
	mixins: [
		// dedupeKey (event id + kind) makes each notification once, however often its event comes.
		DbMixin({ indexes: [{ field: "dedupeKey", unique: true }, { field: "userId" }] }),
		DurableEvents()
	],

	actions: {
		/** The caller's notifications, newest first; `unread` filters on the read flag. */
		list: {
			auth: "required",
			params: {
				...PageParams,
				unread: { type: "boolean", optional: true, convert: true }
			},
			async handler(this: NotificationsThis, ctx: Context<ListParams, AuthMeta>) {
				const user = ctx.meta.user;
				if (!user) throw unauthorized();
				const { page, pageSize, unread } = ctx.params;
				// Always the caller's own, admins included (not ownedBy): no one reads another's mail.
				const query: Record<string, unknown> = { userId: user.id };
				if (unread != null) query.read = !unread;
				return this.findPage(
					this.adapter,
					query,
					{ page, pageSize, sort: ["-createdAt"] },
					toNotification
				);
			}
		},

		/** Mark one of the caller's notifications read. Idempotent; keeps the first readAt. */
		markRead: {
			auth: "required",
			params: { id: IdParam },
			async handler(
				this: NotificationsThis,
				ctx: Context<{ id: string }, AuthMeta>
			): Promise<Notification> {
				const user = ctx.meta.user;
				if (!user) throw unauthorized();
				const mine = () =>
					this.findOwned<NotificationDoc>(
						this.adapter,
						ctx.params.id,
						user,
						notificationNotFound,
						{ adminReads: false }
					);
				const doc = await mine();
				if (doc.read) return toNotification(doc);
				const at = nowIso();
				const updated = await this.updateOne(
					this.adapter,
					{ dedupeKey: doc.dedupeKey, userId: user.id, read: false },
					{ $set: { read: true, readAt: at, updatedAt: at } }
				);
				if (updated) return toNotification(this.toJSON(this.adapter, updated));
				// Marked read meanwhile by another request.
				return toNotification(await mine());
			}
		}
	},

	events: {
		"order.confirmed": notifyOn("order.confirmed", OrderEventParams),
		"order.rejected": notifyOn("order.rejected", OrderEventParams),
		"order.cancelled": notifyOn("order.cancelled", OrderEventParams),
		"order.shipped": notifyOn("order.shipped", ShippedEventParams),
		"order.delivered": notifyOn("order.delivered", OrderEventParams),
		"payment.refunded": notifyOn("payment.refunded", RefundEventParams)
	},

	methods: {
		/** Claim (dedupe) -> find the address -> email, else inbox -> record the outcome. */
		async notify(
			this: NotificationsThis,
			ctx: Context<DomainEvent<NotificationKind>>,
			kind: NotificationKind
		) {
			const event = ctx.params;
			const content = render(kind, event as never);
			const dedupeKey = `${event.eventId}:${kind}`;
			const at = nowIso();
			const claim: Omit<NotificationDoc, "_id"> = {
				userId: event.userId,
				kind,
				title: content.title,
				body: content.body,
				...(event.orderId ? { orderId: event.orderId } : {}),
				eventId: event.eventId,
				dedupeKey,
				read: false,
				channels: { email: "pending", inbox: "stored" },
				deliveredVia: null,
				createdAt: at,
				updatedAt: at
			};

			const store = async (): Promise<"stored" | "duplicate" | "failed"> => {
				try {
					await this.adapter.insert({ ...claim });
					return "stored";
				} catch (err) {
					if (isDuplicateKeyError(err)) return "duplicate";
					this.logger.warn(
						`Notification ${dedupeKey}: the inbox cannot store it (${safeErrorMessage(err)})`
					);
					return "failed";
				}
			};
			const claimed = await store();
			if (claimed === "duplicate") {
				this.logger.debug(`Notification ${dedupeKey}: already handled`);
				return;
			}
			let stored = claimed === "stored";

			// The claim is the inbox copy; when it could not be written, the fallback tries again.
			const inbox: Channel = {
				name: "inbox",
				send: async () => {
					if (!stored) stored = (await store()) !== "failed";
					if (!stored)
						throw Object.assign(new Error("Inbox unavailable"), { code: "EINBOX" });
				}
			};

			const found = await this.recipientOf(ctx, event.userId);
			const outgoing: OutgoingNotification = {
				...content,
				userId: event.userId,
				eventId: event.eventId,
				...(event.orderId ? { orderId: event.orderId } : {}),
				...(found.recipient ? { to: found.recipient } : {})
			};
			const result = found.recipient
				? await deliver(outgoing, this.email, inbox)
				: await deliver(outgoing, inbox);

			const emailAttempt = result.attempts.find(a => a.channel === "email");
			const email: EmailStatus = !found.recipient
				? "skipped"
				: emailAttempt?.ok
					? "sent"
					: "failed";
			const emailError = found.recipient ? emailAttempt?.error : found.reason;
			if (emailError)
				this.logger.warn(`Notification ${dedupeKey}: email ${email} (${emailError})`);
			if (result.deliveredVia == null) {
				this.logger.error(`Notification ${dedupeKey}: no channel reached the user`);
				return;
			}

			const outcome = {
				channels: { email, inbox: "stored" },
				deliveredVia: result.deliveredVia,
				...(emailError ? { emailError } : {}),
				updatedAt: nowIso()
			};
			try {
				// By the unique dedupeKey: one notification, nothing read back.
				if (stored) await this.adapter.updateMany({ dedupeKey }, { $set: outcome });
				else await this.adapter.insert({ ...claim, ...outcome });
			} catch (err) {
				// It reached the user all the same; only the record of how is missing.
				this.logger.error(
					`Notification ${dedupeKey}: sent via ${result.deliveredVia}, but the inbox could not record it (${safeErrorMessage(err)})`
				);
			}
		},

		/** The user's address from users; without it (users down, no such user) no email. */
		async recipientOf(this: NotificationsThis, ctx: Context, userId: string) {
			try {
				const contact = await ctx.call<
					{ id: string; email?: string; name?: string } | null,
					{ id: string }
				>("users.contact", { id: userId });
				if (!contact?.email) return { reason: "NO_EMAIL_ADDRESS" };
				return { recipient: { email: contact.email, name: contact.name ?? "" } };
			} catch (err) {
				return { reason: `users.contact: ${safeErrorMessage(err)}` };
			}
		}
	},

	created(this: NotificationsThis) {
		this.email = new EmailChannel();
	},

	async stopped(this: NotificationsThis) {
		this.email.close();
	}
} satisfies ServiceSchema<any, any, any, NotificationsThis>;

export default NotificationsService;
