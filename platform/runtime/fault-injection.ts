/**
 * Crash switches for the crash-recovery tests, as a middleware that moleculer.config.ts loads
 * only when a switch is set and never in production: the services carry no trace of them.
 * - ORDERS_FAULT_BEFORE_STEP=<reserve|authorize|capture|commit>: the process dies as the saga
 *   calls that step (whatever the saga wrote before it is committed; the call never leaves).
 * - PAYMENTS_FAULT_AFTER_OPERATION=<capture|void|refund>: the process dies with the operation
 *   written and before the processor is asked.
 * - ORDERS_DELAY_BEFORE_STEP=<step>:<ms>: the saga waits that long before it calls the step, so
 *   a kill finds every order of the process in the middle of its saga.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Middleware, Service, ServiceBroker } from "moleculer";

const STEP_ACTIONS: Record<string, string> = {
	reserve: "inventory.reserve",
	authorize: "payments.authorize",
	capture: "payments.capture",
	commit: "inventory.commit"
};
const OPERATIONS = new Set(["capture", "void", "refund"]);

function die(service: { logger: { fatal(msg: string): void } }, what: string): never {
	service.logger.fatal(`Fault injection: killing the process ${what}`);
	process.kill(process.pid, "SIGKILL");
	throw new Error("unreachable: the process was killed");
}

/** The middlewares the environment asks for: none unless a switch is set outside production. */
export function faultInjection(env: NodeJS.ProcessEnv = process.env): Middleware[] {
	if (env.NODE_ENV === "production") return [];
	const step = env.ORDERS_FAULT_BEFORE_STEP?.trim();
	const operation = env.PAYMENTS_FAULT_AFTER_OPERATION?.trim();
	const delay = env.ORDERS_DELAY_BEFORE_STEP?.trim();
	if (!step && !operation && !delay) return [];
	if (step && !STEP_ACTIONS[step])
		throw new Error(`ORDERS_FAULT_BEFORE_STEP: unknown saga step '${step}'`);
	const [delayStep, delayText] = delay?.split(":") ?? [];
	const delayMs = Number(delayText);
	if (delay && (!STEP_ACTIONS[delayStep] || !Number.isInteger(delayMs) || delayMs <= 0))
		throw new Error(`ORDERS_DELAY_BEFORE_STEP: '${delay}' is not <step>:<ms>`);
	if (operation && !OPERATIONS.has(operation))
		throw new Error(`PAYMENTS_FAULT_AFTER_OPERATION: unknown operation '${operation}'`);
	let broker: ServiceBroker;
	return [
		{
			name: "FaultInjection",
			created(b: ServiceBroker) {
				broker = b;
			},
			call(next: (...args: any[]) => unknown) {
				return (actionName: string, ...rest: unknown[]) => {
					const orders = broker.getLocalService("orders");
					if (orders && step && actionName === STEP_ACTIONS[step])
						die(orders, `before '${step}'`);
					if (orders && delay && actionName === STEP_ACTIONS[delayStep])
						return sleep(delayMs).then(() => next(actionName, ...rest));
					return next(actionName, ...rest);
				};
			},
			serviceCreated(service: Service & { processor?: Record<string, unknown> }) {
				if (operation && service.name === "payments" && service.processor)
					service.processor[operation] = () => die(service, `during a ${operation}`);
			}
		} as unknown as Middleware // its `call` hook is typed as returning a promise, not a call
	];
}
