// The price tick the recorder sends to the alert queue, one executed or reported trade per message.
import * as z from "zod";
import { type ClockSkew, latestAcceptedTime } from "../config/clock";
import { parseDecimal } from "../decimal";
import { InstrumentSchema } from "../instruments";

const MAX_BODY_CHARS = 4096;
const MAX_SEQUENCE = 999_999_999_999_999;

export const PriceTickSchema = z
  .object({
    symbol: InstrumentSchema.shape.symbol,
    price: z
      .string()
      .max(40)
      .refine((p) => (parseDecimal(p)?.digits ?? 0n) > 0n, "must be a plain positive decimal string"),
    tradeId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/),
    sequence: z.number().int().positive().max(MAX_SEQUENCE).optional(),
    /** Trade time, epoch milliseconds. */
    timestamp: z.number().int().nonnegative().max(8_640_000_000_000_000),
    source: z.string().regex(/^[a-z0-9][a-z0-9.-]{0,63}$/),
  })
  .strict();

export type PriceTick = z.infer<typeof PriceTickSchema>;

/** An SQS body that is not a valid tick. Fails its batch item, so SQS redrives it to the DLQ. */
export class PriceTickInvalid extends Error {
  override readonly name = "PriceTickInvalid";
}

export function parsePriceTick(body: string): PriceTick {
  if (body.length > MAX_BODY_CHARS)
    throw new PriceTickInvalid(`body is ${body.length} characters, over ${MAX_BODY_CHARS}`);
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new PriceTickInvalid("body is not JSON");
  }
  const parsed = PriceTickSchema.safeParse(json);
  if (!parsed.success) throw new PriceTickInvalid(`body is not a price tick: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/**
 * Trade-time order of ticks as one string that sorts like (timestamp, sequence, tradeId), so that "newer than
 * what is stored" is a single comparison, in code and in a DynamoDB condition expression alike.
 */
export function tickKey(tick: PriceTick): string {
  const pad = (n: number) => String(n).padStart(16, "0");
  return `${pad(tick.timestamp)}#${pad(tick.sequence ?? 0)}#${tick.tradeId}`;
}

/**
 * A tick dated more than the clock skew after `now`. Applied, it would stay the symbol's newest tick until that
 * time came (a 9999-12-31 tick forever), and every real tick after it would be ignored.
 */
export function isFromFuture(tick: PriceTick, now: number, skew: ClockSkew): boolean {
  return tick.timestamp > latestAcceptedTime(now, skew);
}
