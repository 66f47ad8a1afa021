// A request to the HTTP API as API Gateway reads it: header names lower-cased and repeated headers joined with
// commas, query parameters URL-decoded and joined the same way, cookies apart, and the request id and time that
// $context, the access log and the Lambda event carry.
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Lookup } from "./mapping";
import { bodyValue } from "./mapping";

export interface ApiRequest {
  /** API Gateway's form: 16 base64 characters, as in the apigw-requestid header. */
  readonly requestId: string;
  readonly time: Date;
  readonly method: string;
  /** The path as sent, still URL-encoded, without the query. */
  readonly rawPath: string;
  readonly rawQueryString: string;
  /** Lower-case names; a repeated header's values joined with commas. */
  readonly headers: Readonly<Record<string, string>>;
  /** Decoded; a repeated parameter's values joined with commas. */
  readonly query: Readonly<Record<string, string>>;
  /** Every cookie of the cookie headers, one `name=value` each (payload 2.0 moves them out of the headers). */
  readonly cookies: readonly string[];
  readonly body: Buffer;
  readonly sourceIp: string;
  readonly protocol: string;
  /** The Host the client named (API Gateway's domainName). */
  readonly domainName: string;
}

function joined(pairs: Iterable<readonly [string, string]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of pairs) out[name] = Object.hasOwn(out, name) ? `${out[name]},${value}` : value;
  return out;
}

export function apiRequest(req: IncomingMessage, body: Buffer): ApiRequest {
  const target = req.url ?? "/";
  const queryAt = target.indexOf("?");
  const rawQueryString = queryAt < 0 ? "" : target.slice(queryAt + 1);
  const pairs: [string, string][] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2)
    pairs.push([String(req.rawHeaders[i]).toLowerCase(), String(req.rawHeaders[i + 1])]);
  const cookies = pairs
    .filter(([name]) => name === "cookie")
    .flatMap(([, value]) => value.split(";"))
    .map((c) => c.trim())
    .filter((c) => c !== "");
  const headers = joined(pairs);
  return {
    requestId: randomBytes(11).toString("base64"),
    time: new Date(),
    method: (req.method ?? "GET").toUpperCase(),
    rawPath: queryAt < 0 ? target : target.slice(0, queryAt),
    rawQueryString,
    headers,
    query: joined(new URLSearchParams(rawQueryString)),
    cookies,
    body,
    sourceIp: (req.socket.remoteAddress ?? "").replace(/^::ffff:/, ""),
    protocol: `HTTP/${req.httpVersion}`,
    domainName: headers.host ?? "",
  };
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** The CLF-formatted time of $context.requestTime and the event's requestContext.time: 12/Mar/2020:19:03:58 +0000. */
export function requestTime(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  const day = `${pad(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}`;
  return `${day}:${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())} +0000`;
}

/** `request.*` of a parameter mapping, for this request and the path parameters of its route. */
export function requestLookup(request: ApiRequest, pathParameters: Readonly<Record<string, string>>): Lookup {
  return (name) => {
    const [root, kind, ...rest] = name.split(".");
    if (root !== "request") return undefined;
    const key = rest.join(".");
    if (kind === "path") return key ? pathParameters[key] : request.rawPath;
    if (kind === "querystring") return request.query[key];
    if (kind === "header") return request.headers[key.toLowerCase()];
    return bodyValue(request.body, name.slice("request.".length));
  };
}
