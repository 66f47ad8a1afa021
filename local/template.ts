// template.yaml as data: loads it with CloudFormation tags (yaml-cfn) and resolves the intrinsics the local
// stack needs (Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::If, Fn::Select, Fn::Split, Fn::GetAZs, conditions) from
// parameter defaults, overrides and the physical ids of what the local stack created.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { yamlParse } from "yaml-cfn";
import { z } from "zod";
import { repoRoot } from "./servers";

export const TEMPLATE_PATH = join(repoRoot, "template.yaml");

const ResourceSchema = z.object({
  Type: z.string(),
  Condition: z.string().optional(),
  Properties: z.record(z.string(), z.unknown()).default({}),
  Metadata: z.record(z.string(), z.unknown()).optional(),
});

const TemplateSchema = z.object({
  Parameters: z
    .record(z.string(), z.object({ Type: z.string(), Default: z.union([z.string(), z.number()]).optional() }).loose())
    .default({}),
  Conditions: z.record(z.string(), z.unknown()).default({}),
  Globals: z
    .object({ Function: z.record(z.string(), z.unknown()).default({}) })
    .loose()
    .default({ Function: {} }),
  Resources: z.record(z.string(), ResourceSchema),
  Outputs: z.record(z.string(), z.unknown()).default({}),
});

export type CfnTemplate = z.infer<typeof TemplateSchema>;
export type CfnResource = z.infer<typeof ResourceSchema>;

export function loadTemplate(path = TEMPLATE_PATH): CfnTemplate {
  return TemplateSchema.parse(yamlParse(readFileSync(path, "utf8")));
}

/** A file a resource property names (DefinitionUri, Dockerfile...), relative to the template. */
export function templateFile(relative: string, path = TEMPLATE_PATH): string {
  return join(dirname(path), relative);
}

/** The Environment.Variables of a function's properties (or of Globals.Function), unresolved. */
export function environmentOf(properties: Record<string, unknown>): Record<string, unknown> {
  const variables = z
    .object({ Environment: z.object({ Variables: z.record(z.string(), z.unknown()) }).optional() })
    .parse(properties).Environment?.Variables;
  return variables ?? {};
}

/** What the local stack made of a resource: its Ref value and the attributes Fn::GetAtt may ask for. */
export interface PhysicalResource {
  readonly ref: string;
  readonly attributes?: Readonly<Record<string, string>>;
}

export interface ResolverOptions {
  readonly region: string;
  /** Unknown until the local stack has created something that reveals it (moto's ARNs). */
  readonly accountId?: string;
  readonly stackName?: string;
  /** Parameter values that replace the template's defaults (CloudFormation passes every value as a string). */
  readonly parameters?: Readonly<Record<string, string>>;
  readonly resources?: Readonly<Record<string, PhysicalResource>>;
}

export class UnresolvedReferenceError extends Error {
  override readonly name = "UnresolvedReferenceError";
}

/** AWS::NoValue: the key or list item that holds it disappears. */
const NO_VALUE: unique symbol = Symbol("AWS::NoValue");

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The single key of an intrinsic function object ({"Fn::Sub": ...}, {"Ref": ...}), if that is what it is. */
function intrinsic(value: Record<string, unknown>): [string, unknown] | undefined {
  const keys = Object.keys(value);
  const key = keys[0];
  if (keys.length !== 1 || key === undefined || !(key === "Ref" || key === "Condition" || key.startsWith("Fn::")))
    return undefined;
  return [key, value[key]];
}

export class TemplateResolver {
  private readonly parameters: Record<string, string | string[]> = {};
  private readonly conditions = new Map<string, boolean>();

  constructor(
    readonly template: CfnTemplate,
    private readonly options: ResolverOptions,
  ) {
    for (const [name, definition] of Object.entries(template.Parameters)) {
      const raw = options.parameters?.[name] ?? definition.Default;
      if (raw === undefined) continue;
      this.parameters[name] = definition.Type === "CommaDelimitedList" ? String(raw).split(",") : String(raw);
    }
  }

  get stackName(): string {
    return this.options.stackName ?? `tradeflow-${this.parameter("Stage")}`;
  }

  parameter(name: string): string {
    const value = this.parameters[name];
    if (typeof value !== "string") throw new UnresolvedReferenceError(`parameter ${name} has no string value`);
    return value;
  }

  condition(name: string): boolean {
    const known = this.conditions.get(name);
    if (known !== undefined) return known;
    if (!(name in this.template.Conditions)) throw new UnresolvedReferenceError(`no condition ${name}`);
    const value = this.truth(this.template.Conditions[name]);
    this.conditions.set(name, value);
    return value;
  }

  /** The template's resources of one type whose Condition (if any) holds, by logical id. */
  resourcesOfType(type: string): [string, CfnResource][] {
    return Object.entries(this.template.Resources).filter(
      ([, r]) => r.Type === type && (r.Condition === undefined || this.condition(r.Condition)),
    );
  }

  /** The properties `schema` names, resolved and parsed: the rest (KMS keys, policies, VPC) means nothing locally. */
  properties<S extends z.ZodObject>(schema: S, properties: unknown): z.output<S> {
    const given = z.record(z.string(), z.unknown()).parse(properties);
    const wanted = Object.keys(schema.shape).filter((key) => given[key] !== undefined);
    return schema.parse(this.resolve(Object.fromEntries(wanted.map((key) => [key, given[key]]))));
  }

  /** The value with every intrinsic resolved; throws UnresolvedReferenceError for anything it cannot know. */
  resolve(value: unknown): Json {
    const resolved = this.value(value);
    if (resolved === NO_VALUE) throw new UnresolvedReferenceError("the whole value is AWS::NoValue");
    return resolved;
  }

  /** Like resolve, for a value that must be a string (names, URLs, environment variables). */
  resolveString(value: unknown): string {
    const resolved = this.resolve(value);
    if (typeof resolved === "object" && resolved !== null)
      throw new Error(`expected a scalar, got ${JSON.stringify(resolved)}`);
    return String(resolved);
  }

  private value(value: unknown): Json | typeof NO_VALUE {
    if (Array.isArray(value)) {
      return value.map((item) => this.value(item)).filter((item): item is Json => item !== NO_VALUE);
    }
    if (!isRecord(value)) return value as Json;
    const fn = intrinsic(value);
    if (fn) return this.call(fn[0], fn[1]);
    const out: Record<string, Json> = {};
    for (const [key, item] of Object.entries(value)) {
      const resolved = this.value(item);
      if (resolved !== NO_VALUE) out[key] = resolved;
    }
    return out;
  }

  private call(fn: string, arg: unknown): Json | typeof NO_VALUE {
    switch (fn) {
      case "Ref":
        return this.ref(String(arg));
      case "Fn::GetAtt": {
        const [logicalId, ...attribute] = Array.isArray(arg) ? arg.map(String) : String(arg).split(".");
        return this.attribute(String(logicalId), attribute.join("."));
      }
      case "Fn::Sub":
        return this.sub(arg);
      case "Fn::Join": {
        const [delimiter, items] = this.list(arg, 2);
        return this.strings(items).join(String(delimiter));
      }
      case "Fn::Select": {
        const [index, items] = this.list(arg, 2);
        const item = this.strings(items)[Number(this.value(index))];
        if (item === undefined) throw new Error(`Fn::Select index ${String(index)} is out of range`);
        return item;
      }
      case "Fn::Split": {
        const [delimiter, text] = this.list(arg, 2);
        return this.resolveString(text).split(String(delimiter));
      }
      case "Fn::GetAZs":
        return ["a", "b", "c"].map((zone) => `${this.options.region}${zone}`);
      case "Fn::If": {
        const [name, whenTrue, whenFalse] = this.list(arg, 3);
        return this.value(this.condition(String(name)) ? whenTrue : whenFalse);
      }
      case "Fn::Equals":
      case "Fn::Not":
      case "Fn::And":
      case "Fn::Or":
      case "Condition":
        return this.truth({ [fn]: arg });
      default:
        throw new UnresolvedReferenceError(`${fn} is not supported locally`);
    }
  }

  private truth(value: unknown): boolean {
    if (!isRecord(value)) throw new Error(`not a condition: ${JSON.stringify(value)}`);
    const fn = intrinsic(value);
    if (!fn) throw new Error(`not a condition: ${JSON.stringify(value)}`);
    const [name, arg] = fn;
    switch (name) {
      case "Condition":
        return this.condition(String(arg));
      case "Fn::Equals": {
        // CloudFormation compares scalars as strings: a Number parameter "0" equals the literal 0.
        const [left, right] = this.list(arg, 2).map((side) => {
          const value = this.resolve(side);
          return typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
        });
        return left === right;
      }
      case "Fn::Not":
        return !this.truth(this.list(arg, 1)[0]);
      case "Fn::And":
        return this.list(arg).every((c) => this.truth(c));
      case "Fn::Or":
        return this.list(arg).some((c) => this.truth(c));
      default:
        throw new Error(`${name} is not a condition function`);
    }
  }

  private list(arg: unknown, length?: number): unknown[] {
    if (!Array.isArray(arg) || (length !== undefined && arg.length !== length))
      throw new Error(`expected a list of ${length ?? "any"} arguments, got ${JSON.stringify(arg)}`);
    return arg;
  }

  private strings(items: unknown): string[] {
    const resolved = this.resolve(items);
    if (!Array.isArray(resolved)) throw new Error(`expected a list, got ${JSON.stringify(resolved)}`);
    return resolved.map(String);
  }

  private ref(name: string): Json | typeof NO_VALUE {
    switch (name) {
      case "AWS::NoValue":
        return NO_VALUE;
      case "AWS::Region":
        return this.options.region;
      case "AWS::AccountId":
        if (this.options.accountId === undefined) throw new UnresolvedReferenceError("AWS::AccountId is not known yet");
        return this.options.accountId;
      case "AWS::Partition":
        return "aws";
      case "AWS::URLSuffix":
        return "amazonaws.com";
      case "AWS::StackName":
        return this.stackName;
    }
    const parameter = this.parameters[name];
    if (parameter !== undefined) return parameter;
    const physical = this.options.resources?.[name];
    if (physical) return physical.ref;
    throw new UnresolvedReferenceError(`Ref ${name}: no such parameter, or the resource does not exist locally`);
  }

  private attribute(logicalId: string, attribute: string): string {
    const value = this.options.resources?.[logicalId]?.attributes?.[attribute];
    if (value === undefined)
      throw new UnresolvedReferenceError(`Fn::GetAtt ${logicalId}.${attribute} is not known locally`);
    return value;
  }

  private sub(arg: unknown): string {
    const [text, variables] = Array.isArray(arg) ? arg : [arg, {}];
    if (typeof text !== "string" || !isRecord(variables)) throw new Error(`bad Fn::Sub ${JSON.stringify(arg)}`);
    return text.replace(/\$\{(!?)([^}]+)\}/g, (_, literal: string, name: string) => {
      if (literal) return `\${${name}}`;
      if (name in variables) return this.resolveString(variables[name]);
      if (name.includes(".") && !name.startsWith("AWS::")) {
        const [logicalId, ...attribute] = name.split(".");
        return this.attribute(String(logicalId), attribute.join("."));
      }
      return this.resolveString({ Ref: name });
    });
  }
}
