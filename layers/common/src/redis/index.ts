// One Redis connection per container. TLS (rediss://) and AUTH from Secrets Manager for ElastiCache,
// plain for local; cluster mode when REDIS_CLUSTER=true.
import { Cluster, Redis, type RedisOptions } from "ioredis";
import { logger } from "../observability";

export type RedisConnection = Redis | Cluster;

export interface RedisSettings {
  readonly url: string;
  readonly authSecretArn: string | undefined;
  readonly cluster: boolean;
  readonly commandTimeoutMs: number;
}

export function redisSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): RedisSettings {
  const url = env.REDIS_URL;
  if (!url) throw new Error("REDIS_URL is not set");
  return {
    url,
    authSecretArn: env.REDIS_AUTH_SECRET_ARN || undefined,
    cluster: env.REDIS_CLUSTER === "true",
    commandTimeoutMs: Number(env.REDIS_COMMAND_TIMEOUT_MS ?? 2000),
  };
}

/** The AUTH token: a plain secret string, or JSON with `authToken` (the template's generated secret). */
export function authTokenFrom(secret: string): string {
  try {
    const parsed: unknown = JSON.parse(secret);
    if (parsed && typeof parsed === "object" && "authToken" in parsed && typeof parsed.authToken === "string") {
      return parsed.authToken;
    }
  } catch {
    // not JSON: the whole secret is the token
  }
  return secret;
}

// Only ElastiCache has an AUTH secret: the Secrets Manager client loads on that path alone.
async function authSecret(arn: string): Promise<string> {
  const { getSecret } = await import("@aws-lambda-powertools/parameters/secrets");
  return String(await getSecret(arn, { maxAge: 300 }));
}

export async function connectRedis(settings: RedisSettings): Promise<RedisConnection> {
  const password = settings.authSecretArn ? authTokenFrom(await authSecret(settings.authSecretArn)) : undefined;
  const url = new URL(settings.url);
  const tls = url.protocol === "rediss:" ? {} : undefined;
  const options: RedisOptions = {
    password: password ?? (url.password ? decodeURIComponent(url.password) : undefined),
    tls,
    db: Number(url.pathname.slice(1) || 0),
    connectTimeout: settings.commandTimeoutMs,
    commandTimeout: settings.commandTimeoutMs,
    maxRetriesPerRequest: 1,
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 1000),
  };
  const port = Number(url.port || 6379);
  const connection = settings.cluster
    ? new Cluster([{ host: url.hostname, port }], {
        dnsLookup: (address, callback) => callback(null, address),
        redisOptions: options,
        enableAutoPipelining: true,
      })
    : new Redis({ ...options, host: url.hostname, port });
  // Commands in flight fail with their own error (MatcherUnavailableError); this only keeps the reconnect noise
  // out of stderr and in the structured log.
  connection.on("error", (err: Error) => logger.warn("redis connection error", { error: err.message }));
  return connection;
}

let shared: Promise<RedisConnection> | undefined;

/** The container's connection, opened on first use and reused across invocations. */
export function sharedRedis(): Promise<RedisConnection> {
  shared ??= connectRedis(redisSettingsFromEnv()).catch((err: unknown) => {
    shared = undefined;
    throw err;
  });
  return shared;
}
