/**
 * The gateway's pages and their files (the API docs, the operator console): a page under its own
 * Content-Security-Policy, and files served by name from a fixed list only.
 */
import fs from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { notFound } from "../../contracts/errors";

/** A file that may be served: where it is and its content type. */
export interface ListedFile {
	file: string;
	type: string;
}

/** The api service, which answers errors. */
interface Answering {
	sendErrorBody(req: IncomingMessage, res: ServerResponse, err: Error): void;
}

/** An HTML page under its own Content-Security-Policy. */
export function sendPage(res: ServerResponse, csp: string, html: string): void {
	res.statusCode = 200;
	res.setHeader("Content-Type", "text/html; charset=utf-8");
	res.setHeader("Content-Security-Policy", csp);
	res.end(html);
}

/**
 * The file `name` of `files`, streamed; any other name is a 404 with `missing` as its message:
 * the name never reaches the file system otherwise.
 */
export function sendListedFile(
	gateway: Answering,
	req: IncomingMessage,
	res: ServerResponse,
	files: Record<string, ListedFile>,
	name: string,
	{ cacheControl, missing }: { cacheControl: string; missing: string }
): void {
	const listed = Object.prototype.hasOwnProperty.call(files, name) ? files[name] : undefined;
	if (!listed) return gateway.sendErrorBody(req, res, notFound(missing));
	res.statusCode = 200;
	res.setHeader("Content-Type", listed.type);
	res.setHeader("Cache-Control", cacheControl);
	fs.createReadStream(listed.file)
		.on("error", (err: Error) => gateway.sendErrorBody(req, res, err))
		.pipe(res);
}
