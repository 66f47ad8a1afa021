// The read routes of the trading API: an API Gateway HTTP API request (payload format 2.0) in, a response out.
// Every path and query parameter is validated here; the reads get typed values only.
import * as z from "zod";
import { Identifier, InstrumentSymbol, ORDER_STATUSES, utcMillis } from "../contracts";
import { IsoOffsetTimestamp } from "../contracts/fields";
import type { InstrumentRegistry } from "../instruments";
import { CANDLE_INTERVALS, type CandleInterval, MatchingEngine } from "../orderbook";
import type { RedisConnection } from "../redis";
import { cursorScope } from "./cursor";
import { ApiProblem, type HttpResponse, jsonResponse } from "./problem";
import { listFills, listOrders, listTrades, type PageRequest, readOrder, type TableReader } from "./reads";

export interface QueryDeps extends TableReader {
  readonly instruments: () => Promise<InstrumentRegistry>;
  readonly redis: () => Promise<RedisConnection>;
}

const RequestSchema = z.object({
  routeKey: z.string(),
  pathParameters: z.record(z.string(), z.string()).optional(),
  queryStringParameters: z.record(z.string(), z.string()).optional(),
  requestContext: z.object({
    authorizer: z.object({ jwt: z.object({ claims: z.object({ sub: Identifier }) }) }).optional(),
  }),
});

type Parameters = Record<string, string> | undefined;

interface Caller {
  readonly clientId: string;
  readonly routeKey: string;
  readonly deps: QueryDeps;
}

/** One route: its parameters' schemas, and what it answers with them. */
function route<P extends z.ZodObject, Q extends z.ZodObject>(
  path: P,
  query: Q,
  run: (caller: Caller, path: z.output<P>, query: z.output<Q>) => Promise<unknown>,
) {
  return (caller: Caller, rawPath: Parameters, rawQuery: Parameters) =>
    run(caller, parameters(path, rawPath), parameters(query, rawQuery));
}

/** The parameters, or INVALID_REQUEST naming the first one that is wrong (an unknown one included). */
function parameters<S extends z.ZodObject>(schema: S, values: Parameters): z.output<S> {
  const parsed = schema.strict().safeParse(values ?? {});
  if (parsed.success) return parsed.data as z.output<S>;
  const issue = parsed.error.issues[0];
  const [name, problem] =
    issue?.code === "unrecognized_keys"
      ? [issue.keys[0], "is not a parameter of this route"]
      : [issue?.path[0], issue?.message];
  throw new ApiProblem("INVALID_REQUEST", `${String(name)}: ${problem}`);
}

const count = (max: number, fallback: number) =>
  z
    .string()
    .regex(/^[1-9][0-9]{0,2}$/, `must be an integer from 1 to ${max}`)
    .transform(Number)
    .refine((n) => n <= max, `must be an integer from 1 to ${max}`)
    .optional()
    .transform((n) => n ?? fallback);

const paging = { limit: count(100, 50), cursor: z.string().max(2048).optional() };
const instant = IsoOffsetTimestamp.transform(utcMillis).optional();
const none = z.object({});
const ofSymbol = z.object({ symbol: z.string().max(64) });

const pageRequest = (caller: Caller, q: { limit: number; cursor?: string }): PageRequest => ({
  scope: cursorScope(caller.routeKey, caller.clientId),
  limit: q.limit,
  cursor: q.cursor,
});

/** The registry, when it lists the symbol. */
async function listing(deps: QueryDeps, symbol: string): Promise<InstrumentRegistry> {
  const registry = await deps.instruments();
  if (!registry.has(symbol)) throw new ApiProblem("UNKNOWN_SYMBOL", `no instrument ${symbol}`);
  return registry;
}

/** The engine's reads (depth, positions, candles) over these instruments. */
const engineOf = async (deps: QueryDeps, instruments: InstrumentRegistry) =>
  new MatchingEngine({ redis: await deps.redis(), instruments });

/** At most this many intervals per candles request; without from and to, the last DEFAULT_CANDLES. */
const MAX_CANDLES = 1000;
const DEFAULT_CANDLES = 60;

/** The candles' range in epoch ms: candles starting at or after `from` and before `to`. */
function candleRange(interval: CandleInterval, from: string | undefined, to: string | undefined) {
  const length = CANDLE_INTERVALS[interval];
  const end = to === undefined ? Date.now() : Date.parse(to);
  const start = from === undefined ? end - DEFAULT_CANDLES * length : Date.parse(from);
  if (start > end) throw new ApiProblem("INVALID_REQUEST", "to: must not be before from");
  const intervals = Math.ceil(end / length) - Math.ceil(start / length);
  if (intervals > MAX_CANDLES) {
    throw new ApiProblem(
      "INVALID_REQUEST",
      `to: the range holds ${intervals} intervals of ${interval}, over ${MAX_CANDLES}`,
    );
  }
  return { start, end };
}

const EARLIEST = "0000-01-01T00:00:00.000Z";
const LATEST = "9999-12-31T23:59:59.999Z";

const ROUTES: Record<string, ReturnType<typeof route>> = {
  "GET /orders/{orderId}": route(z.object({ orderId: Identifier }), none, (c, p) =>
    readOrder(c.deps, c.clientId, p.orderId),
  ),
  "GET /orders": route(
    none,
    z.object({ status: z.enum(ORDER_STATUSES).optional(), symbol: InstrumentSymbol.optional(), ...paging }),
    (c, _, q) => listOrders(c.deps, c.clientId, { status: q.status, symbol: q.symbol }, pageRequest(c, q)),
  ),
  "GET /fills": route(none, z.object({ symbol: InstrumentSymbol.optional(), ...paging }), (c, _, q) =>
    listFills(c.deps, c.clientId, { symbol: q.symbol }, pageRequest(c, q)),
  ),
  "GET /instruments": route(none, none, async (c) => ({ items: [...(await c.deps.instruments()).values()] })),
  "GET /books/{symbol}": route(ofSymbol, z.object({ depth: count(100, 20) }), async (c, p, q) => {
    const engine = await engineOf(c.deps, await listing(c.deps, p.symbol));
    const { bids, asks } = await engine.depth(p.symbol, q.depth);
    return { symbol: p.symbol, bids, asks };
  }),
  "GET /trades/{symbol}": route(ofSymbol, z.object({ from: instant, to: instant, ...paging }), async (c, p, q) => {
    const range = { from: q.from ?? EARLIEST, to: q.to ?? LATEST };
    if (range.from > range.to) throw new ApiProblem("INVALID_REQUEST", "to: must not be before from");
    await listing(c.deps, p.symbol);
    return listTrades(c.deps, p.symbol, range, pageRequest(c, q));
  }),
  "GET /positions": route(none, none, async (c) => {
    const engine = await engineOf(c.deps, await c.deps.instruments());
    return { items: await engine.positions(c.clientId) };
  }),
  "GET /candles/{symbol}": route(
    ofSymbol,
    z.object({ interval: z.enum(Object.keys(CANDLE_INTERVALS) as CandleInterval[]), from: instant, to: instant }),
    async (c, p, q) => {
      const { start, end } = candleRange(q.interval, q.from, q.to);
      const engine = await engineOf(c.deps, await listing(c.deps, p.symbol));
      const items = await engine.candles(p.symbol, q.interval, start, end);
      return { symbol: p.symbol, interval: q.interval, from: utcMillis(start), to: utcMillis(end), items };
    },
  ),
};

export const ROUTE_KEYS = Object.keys(ROUTES);

/**
 * The response to one request. A refusal is thrown as ApiProblem; a request API Gateway would not have passed
 * (no subject claim, an unknown route) gets API Gateway's own answer.
 */
export async function answer(event: unknown, deps: QueryDeps): Promise<HttpResponse> {
  const request = RequestSchema.safeParse(event);
  const clientId = request.data?.requestContext.authorizer?.jwt.claims.sub;
  if (!request.success || clientId === undefined) return jsonResponse({ message: "Unauthorized" }, 401);
  const { routeKey, pathParameters, queryStringParameters } = request.data;
  const serve = Object.hasOwn(ROUTES, routeKey) ? ROUTES[routeKey] : undefined;
  if (!serve) return jsonResponse({ message: "Not Found" }, 404);
  return jsonResponse(await serve({ clientId, routeKey, deps }, pathParameters, queryStringParameters));
}
