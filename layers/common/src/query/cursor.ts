// Opaque page cursors: base64url of a position in one DynamoDB query, bound to the route and the client that got
// it. Nothing in a cursor is trusted: a decoded key must lie in the partition (and range) of the query it resumes.
import * as z from "zod";
import { ApiProblem } from "./problem";

export type StartKey = Readonly<Record<string, string>>;

/** Where a page ends: after the item `key` (the start when undefined), with `skip` rows of the next item returned. */
export interface Position {
  readonly key: StartKey | undefined;
  readonly skip: number;
}

export const START: Position = { key: undefined, skip: 0 };

/** An engine command has at most 1000 trades, so one item never holds more rows. */
const MAX_SKIP = 1000;
const MAX_CURSOR_LENGTH = 2048;

const CursorSchema = z
  .object({
    scope: z.string(),
    key: z.record(z.string(), z.string().max(256)).optional(),
    skip: z.number().int().nonnegative().max(MAX_SKIP),
  })
  .strict();

/** What a cursor is bound to: the route and the authenticated client. */
export const cursorScope = (routeKey: string, clientId: string) => JSON.stringify([routeKey, clientId]);

export function encodeCursor(scope: string, position: Position): string {
  return Buffer.from(JSON.stringify({ scope, ...position })).toString("base64url");
}

/**
 * The position a cursor names, or START without one. `accepts` checks the key against the query it resumes;
 * a cursor of another route or client, a malformed one or a key outside the query is INVALID_CURSOR.
 */
export function decodeCursor(cursor: string | undefined, scope: string, accepts: (key: StartKey) => boolean): Position {
  if (cursor === undefined) return START;
  const invalid = () => new ApiProblem("INVALID_CURSOR", "cursor is not one this request returned");
  if (cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalid();
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalid();
  }
  const parsed = CursorSchema.safeParse(json);
  if (!parsed.success || parsed.data.scope !== scope) throw invalid();
  const { key, skip } = parsed.data;
  if (key !== undefined && !accepts(key)) throw invalid();
  return { key, skip };
}
