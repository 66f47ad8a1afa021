// The integration files run in parallel workers on one redis-server (started with 32 databases): each file that
// flushes or fills a logical database has its own, listed here so that no two share one. Database 0 is for the files that only read.
export const REDIS_DB = {
  orderbook: 1,
  orderbookProperties: 2,
  matcherHandler: 3,
  replayCli: 4,
  recorder: 5,
  recorderProperties: 6,
  e2ePipeline: 7,
  replayCliInteractive: 8,
  localCli: 9,
  samplesPipeline: 10,
  hostile: 11,
  query: 12,
  analyticsProperties: 13,
  httpApi: 14,
  apiE2e: 15,
  schemathesis: 16,
  apiDocs: 17,
} as const;

/** The harness's redis-server (REDIS_URL, set by the integration project) at one of the databases above. */
export function redisDbUrl(db: number): string {
  const url = process.env.REDIS_URL;
  if (!url) throw new Error("REDIS_URL is not set: run through the integration project (it starts redis-server)");
  return `${url}/${db}`;
}
