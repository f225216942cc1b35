/**
 * Crash switches for the crash-recovery tests, as a middleware that moleculer.config.ts loads
 * only when a switch is set and never in production: the services carry no trace of them.
 * - ORDERS_FAULT_BEFORE_STEP=<reserve|authorize|capture|commit>: the process dies as the saga
 *   calls that step (whatever the saga wrote before it is committed; the call never leaves).
 * - PAYMENTS_FAULT_AFTER_OPERATION=<capture|void|refund>: the process dies with the operation
 *   written and before the processor is asked.
 */
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
	if (!step && !operation) return [];
	if (step && !STEP_ACTIONS[step])
		throw new Error(`ORDERS_FAULT_BEFORE_STEP: unknown saga step '${step}'`);
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
					const orders = step && broker.getLocalService("orders");
					if (orders && actionName === STEP_ACTIONS[step])
						die(orders, `before '${step}'`);
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
