// How far ahead of this function's clock an event or tick may be dated. Clocks drift, so a little is tolerated;
// beyond it a timestamp is refused, so that one dated 9999-12-31 cannot become a symbol's newest state forever.
import * as z from "zod";

export const DEFAULT_CLOCK_SKEW = { maxFutureSeconds: 300 } as const;

/** The SSM parameter `clock-skew`: {"maxFutureSeconds":300}. */
export const ClockSkewSchema = z.strictObject({
  maxFutureSeconds: z.number().int().min(0).max(86_400).default(DEFAULT_CLOCK_SKEW.maxFutureSeconds),
});

export type ClockSkew = z.output<typeof ClockSkewSchema>;

/** The latest epoch millisecond accepted at `now`: anything dated later is from the future. */
export function latestAcceptedTime(now: number, skew: ClockSkew): number {
  return now + skew.maxFutureSeconds * 1000;
}
