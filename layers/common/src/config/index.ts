// Runtime configuration from SSM Parameter Store, through Powertools Parameters (cached with maxAge).
// Every parameter lives under CONFIG_PATH (for example /tradeflow/dev) and holds JSON validated by zod.
import { getParameter } from "@aws-lambda-powertools/parameters/ssm";
import type * as z from "zod";

export * from "./clock";

const MAX_AGE_SECONDS = Number(process.env.CONFIG_MAX_AGE_SECONDS ?? 60);

export class ConfigurationError extends Error {
  override readonly name = "ConfigurationError";
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  const path = env.CONFIG_PATH;
  if (!path) throw new ConfigurationError("CONFIG_PATH is not set");
  return path.replace(/\/$/, "");
}

/** Reads `${CONFIG_PATH}/${name}` as JSON and validates it; cached per container for CONFIG_MAX_AGE_SECONDS. */
export async function loadConfig<S extends z.ZodType>(name: string, schema: S): Promise<z.output<S>> {
  const parameter = `${configPath()}/${name}`;
  let raw: string | undefined;
  try {
    raw = await getParameter(parameter, { maxAge: MAX_AGE_SECONDS });
  } catch (err) {
    throw new ConfigurationError(`SSM parameter ${parameter} could not be read: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (raw === undefined) throw new ConfigurationError(`SSM parameter ${parameter} is missing`);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ConfigurationError(`SSM parameter ${parameter} is not JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new ConfigurationError(`SSM parameter ${parameter} is invalid: ${parsed.error.message}`);
  return parsed.data;
}
