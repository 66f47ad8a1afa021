// The template's Secrets Manager secrets in moto: a given SecretString, or one GenerateSecretString makes.
import { randomInt } from "node:crypto";
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { z } from "zod";
import { isMissing, type ProvisionContext, physicalName } from "../provision";

const SecretProperties = z.object({
  Name: z.string().optional(),
  SecretString: z.string().optional(),
  GenerateSecretString: z
    .object({
      SecretStringTemplate: z.string().optional(),
      GenerateStringKey: z.string().optional(),
      PasswordLength: z.number().int().positive().default(32),
      ExcludeCharacters: z.string().default(""),
      ExcludePunctuation: z.boolean().default(false),
    })
    .optional(),
});

/** Secret ARNs by logical id. An existing secret keeps its value. */
export async function createSecrets(context: ProvisionContext): Promise<Record<string, string>> {
  const client = new SecretsManagerClient({ endpoint: context.motoEndpoint, region: context.region });
  const secrets: Record<string, string> = {};
  for (const [logicalId, resource] of context.resolver.resourcesOfType("AWS::SecretsManager::Secret")) {
    const p = context.resolver.properties(SecretProperties, resource.Properties);
    const name = physicalName(context, logicalId, p.Name);
    const value = p.SecretString ?? (p.GenerateSecretString ? generatedSecret(p.GenerateSecretString) : "");
    const arn = await ensureSecret(client, name, value);
    secrets[logicalId] = arn;
    context.physical[logicalId] = { ref: arn, attributes: { Id: arn } };
  }
  return secrets;
}

/** A secret like Secrets Manager's GenerateSecretString would make: printable ASCII minus the exclusions. */
function generatedSecret(spec: NonNullable<z.infer<typeof SecretProperties>["GenerateSecretString"]>): string {
  const alphabet = Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i)).filter(
    (c) => !spec.ExcludeCharacters.includes(c) && !(spec.ExcludePunctuation && /[^A-Za-z0-9]/.test(c)),
  );
  const password = Array.from({ length: spec.PasswordLength }, () => alphabet[randomInt(alphabet.length)]).join("");
  if (!spec.GenerateStringKey) return password;
  const base: unknown = JSON.parse(spec.SecretStringTemplate ?? "{}");
  return JSON.stringify({ ...(base as object), [spec.GenerateStringKey]: password });
}

async function ensureSecret(client: SecretsManagerClient, name: string, value: string): Promise<string> {
  try {
    const { ARN } = await client.send(new DescribeSecretCommand({ SecretId: name }));
    if (ARN) return ARN;
  } catch (err) {
    if (!isMissing(err, ResourceNotFoundException)) throw err;
  }
  const { ARN } = await client.send(new CreateSecretCommand({ Name: name, SecretString: value }));
  if (!ARN) throw new Error(`moto returned no ARN for secret ${name}`);
  return ARN;
}
