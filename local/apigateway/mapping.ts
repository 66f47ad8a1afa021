// HTTP API parameter mapping: the values of an integration's requestParameters and responseParameters (and the
// access log's format), where `$request.header.x` or `${request.header.x}` stand for what the request (or the
// integration's response, or $context) holds, mixed with static text.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-parameter-mapping.html
import { z } from "zod";

/** `${anything}`, or `$` and a dotted name under one of the roots API Gateway knows. */
const EXPRESSION = /\$\{([^}]+)\}|\$((?:request|response|context|stageVariables)(?:\.[\w$-]+(?:\[\d+\])*)+)/g;

/** Finds the value of a name such as `request.path.orderId`; undefined when the request has none. */
export type Lookup = (name: string) => string | undefined;

/** The text with every expression replaced by its value, or by `missing` where there is none. */
export function mapValue(text: string, lookup: Lookup, missing = ""): string {
  return text.replace(EXPRESSION, (_, braced: string | undefined, bare: string | undefined) => {
    return lookup((braced ?? bare ?? "").trim()) ?? missing;
  });
}

/** API Gateway applies a JSON path to the first 100 KB of a body only. */
const JSON_PATH_BODY_BYTES = 100 * 1024;

/**
 * `body` (the whole text) or `body.<JSON path>` (`a.b[0].c`; no recursive descent or filters, as API Gateway): a
 * string as it is, anything else as JSON; undefined when the body is not JSON or has nothing there.
 */
export function bodyValue(body: Buffer, selector: string): string | undefined {
  if (selector === "body") return body.toString("utf8");
  if (!selector.startsWith("body.")) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(body.subarray(0, JSON_PATH_BODY_BYTES).toString("utf8"));
  } catch {
    return undefined;
  }
  for (const key of selector
    .slice("body.".length)
    .split(/[.[\]]/)
    .filter((k) => k !== "")) {
    if (typeof value !== "object" || value === null || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** responseParameters: by the integration's status code, what to do to the response. */
export const ResponseParameters = z.record(
  z.string().regex(/^\d{3}$/),
  z.record(
    z.string().regex(/^(overwrite:statuscode|(append|overwrite|remove):header\.[!#$%&'*+.^_`|~0-9A-Za-z-]+)$/),
    z.string(),
  ),
);
export type ResponseParameters = z.infer<typeof ResponseParameters>;

export interface HttpAnswer {
  readonly status: number;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: Buffer;
}

/**
 * The answer after the mappings for its status code: `overwrite:statuscode`, and `append`, `overwrite` or
 * `remove` of a header. `$response.header.x` and `$response.body.<path>` read the integration's own answer.
 */
export function mapResponse(answer: HttpAnswer, parameters: ResponseParameters, context: Lookup): HttpAnswer {
  const mappings = parameters[String(answer.status)];
  if (!mappings) return answer;
  const lookup: Lookup = (name) => {
    const [root, kind, ...rest] = name.split(".");
    if (root === "context") return context(name.slice("context.".length));
    if (root !== "response") return undefined;
    if (kind === "header") return [answer.headers[rest.join(".").toLowerCase()] ?? []].flat().join(",") || undefined;
    return bodyValue(answer.body, name.slice("response.".length));
  };
  let status = answer.status;
  const headers: Record<string, string | readonly string[]> = { ...answer.headers };
  for (const [key, value] of Object.entries(mappings)) {
    const mapped = mapValue(value, lookup);
    if (key === "overwrite:statuscode") {
      const code = Number(mapped);
      if (!Number.isInteger(code) || code < 100 || code > 599) throw new Error(`status code ${mapped} is not valid`);
      status = code;
      continue;
    }
    const [action, header] = [key.slice(0, key.indexOf(":")), key.slice(key.indexOf(".") + 1).toLowerCase()];
    if (action === "remove") delete headers[header];
    else if (action === "overwrite") headers[header] = mapped;
    else headers[header] = [...[headers[header] ?? []].flat(), mapped];
  }
  return { status, headers, body: answer.body };
}
