/**
 * Readiness of the gateway: which services it can reach now, and whether every required one is there.
 * Notifications is optional by design: orders keep working without it.
 */
import type { ServiceBroker } from "moleculer";
import { settings } from "../../platform/runtime/settings";

export const KNOWN_SERVICES = [
	"users",
	"inventory",
	"payments",
	"orders",
	"notifications"
] as const;

export function requiredServices(): string[] {
	return settings().readyRequires;
}

export interface Readiness {
	ready: boolean;
	services: Record<string, boolean>;
	missing: string[];
}

export function readiness(broker: ServiceBroker, required = requiredServices()): Readiness {
	const available = new Set(
		broker.registry.getServiceList({ onlyAvailable: true, skipInternal: true }).map(s => s.name)
	);
	const services: Record<string, boolean> = {};
	for (const name of new Set([...KNOWN_SERVICES, ...required]))
		services[name] = available.has(name);
	const missing = required.filter(name => !services[name]);
	return { ready: missing.length === 0, services, missing };
}
