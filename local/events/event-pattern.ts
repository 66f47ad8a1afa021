// Amazon EventBridge event-pattern matching (content filtering), for the local emulator's rules.
//
// A pattern is a JSON object; its fields AND together and `"$or": [pattern, pattern, ...]` ORs patterns at any level.
// A field's value is a nested pattern or a non-empty array of matchers, of which any may match: literals (strings,
// numbers compared numerically, booleans, null), prefix, suffix, equals-ignore-case, wildcard, anything-but, numeric,
// exists and cidr (IPv4). As in EventBridge (aws/event-ruler), matchers see the event's leaf values at that field:
// arrays are crushed to their scalar elements, an object there is no leaf (so exists:false matches it), and a nested
// pattern facing an array must be matched by one element as a whole (array-consistent matching).

export class InvalidEventPatternError extends Error {
  override readonly name = "InvalidEventPatternException";
}

type Scalar = string | number | boolean | null;
type Matcher = (value: unknown) => boolean;
type ValueTest = (value: Scalar) => boolean;

/** Numeric matching covers -5.0e9 to +5.0e9 inclusive, as in EventBridge. */
const NUMERIC_LIMIT = 5e9;
const EMPTY: Readonly<Record<string, unknown>> = Object.freeze({});
type StringOperator = "prefix" | "suffix" | "equals-ignore-case" | "wildcard";

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isScalar = (v: unknown): v is Scalar =>
  v === null || typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));

function fail(path: string, message: string): never {
  throw new InvalidEventPatternError(`Event pattern is not valid: ${path || "(pattern)"}: ${message}`);
}

/** Validates `pattern` once and returns a matcher for events (parsed JSON). */
export function compileEventPattern(pattern: unknown): (event: unknown) => boolean {
  if (!isRecord(pattern)) fail("", "must be a JSON object");
  return compileObject(pattern, "");
}

function compileObject(pattern: Record<string, unknown>, path: string): Matcher {
  const entries = Object.entries(pattern);
  if (entries.length === 0) fail(path, "an object must name at least one field");
  const checks = entries.map(([key, sub]): ((record: Record<string, unknown>) => boolean) => {
    const at = path ? `${path}.${key}` : key;
    if (key === "$or") {
      if (!Array.isArray(sub) || sub.length < 2) fail(at, "must be an array of at least two patterns");
      const branches = sub.map((branch, i) =>
        isRecord(branch) ? compileObject(branch, `${at}[${i}]`) : fail(`${at}[${i}]`, "must be an object"),
      );
      return (record) => branches.some((branch) => branch(record));
    }
    if (Array.isArray(sub)) {
      const leaf = compileLeaf(sub, at);
      return (record) => leaf(leaves(field(record, key)));
    }
    if (isRecord(sub)) {
      const nested = compileObject(sub, at);
      return (record) => nested(field(record, key));
    }
    return fail(at, "must be an array of matchers or a nested pattern object");
  });
  const matchRecord = (record: Readonly<Record<string, unknown>>) => checks.every((check) => check(record));
  const match = (value: unknown): boolean => {
    if (!Array.isArray(value)) return matchRecord(isRecord(value) ? value : EMPTY);
    const elements = flatten(value);
    return elements.length === 0 ? matchRecord(EMPTY) : elements.some(match);
  };
  return match;
}

const field = (record: Readonly<Record<string, unknown>>, key: string): unknown =>
  Object.hasOwn(record, key) ? record[key] : undefined;

function flatten(values: readonly unknown[], out: unknown[] = []): unknown[] {
  for (const v of values) {
    if (Array.isArray(v)) flatten(v, out);
    else out.push(v);
  }
  return out;
}

/** The leaf (scalar) values at a field: none when absent or an object, the scalar elements of an array. */
function leaves(value: unknown): Scalar[] {
  if (Array.isArray(value)) return flatten(value).filter(isScalar);
  return isScalar(value) ? [value] : [];
}

function compileLeaf(matchers: readonly unknown[], path: string): (values: readonly Scalar[]) => boolean {
  if (matchers.length === 0) fail(path, "an array of matchers must not be empty");
  const exact = new Set<Scalar>();
  const tests: ValueTest[] = [];
  let ifAbsent = false;
  let ifPresent = false;
  matchers.forEach((matcher, i) => {
    const at = `${path}[${i}]`;
    if (isScalar(matcher)) {
      exact.add(matcher);
      return;
    }
    if (!isRecord(matcher)) fail(at, "must be a string, number, boolean, null or a matcher object");
    const [op, ...others] = Object.keys(matcher);
    if (op === undefined || others.length > 0) fail(at, "a matcher object takes exactly one operator");
    const arg = matcher[op];
    if (op === "exists") {
      if (typeof arg !== "boolean") fail(`${at}.exists`, "must be true or false");
      if (arg) ifPresent = true;
      else ifAbsent = true;
      return;
    }
    tests.push(compileOperator(op, arg, `${at}.${op}`));
  });
  const one = (v: Scalar) => exact.has(v) || tests.some((test) => test(v));
  return (values) => (values.length === 0 ? ifAbsent : ifPresent || values.some(one));
}

function compileOperator(op: string, arg: unknown, at: string): ValueTest {
  switch (op) {
    case "prefix":
    case "suffix":
    case "equals-ignore-case":
    case "wildcard":
      return stringOperator(op, arg, at);
    case "anything-but": {
      const excluded = anythingBut(arg, at);
      return (v) => !excluded(v);
    }
    case "numeric":
      return numeric(arg, at);
    case "cidr":
      return cidr(arg, at);
    default:
      return fail(at, `unknown operator "${op}"`);
  }
}

const text = (arg: unknown, at: string): string => (typeof arg === "string" ? arg : fail(at, "must be a string"));

/** prefix, suffix, equals-ignore-case and wildcard; prefix and suffix also take {"equals-ignore-case": "..."}. */
function stringOperator(op: StringOperator, arg: unknown, at: string): ValueTest {
  if ((op === "prefix" || op === "suffix") && isRecord(arg)) {
    const keys = Object.keys(arg);
    if (keys.length !== 1 || keys[0] !== "equals-ignore-case")
      fail(at, 'takes a string or {"equals-ignore-case": ...}');
    const want = text(arg["equals-ignore-case"], `${at}.equals-ignore-case`).toLowerCase();
    return (v) =>
      typeof v === "string" && (op === "prefix" ? v.toLowerCase().startsWith(want) : v.toLowerCase().endsWith(want));
  }
  const want = text(arg, at);
  if (op === "prefix") return (v) => typeof v === "string" && v.startsWith(want);
  if (op === "suffix") return (v) => typeof v === "string" && v.endsWith(want);
  if (op === "equals-ignore-case") {
    const lower = want.toLowerCase();
    return (v) => typeof v === "string" && v.toLowerCase() === lower;
  }
  const re = wildcard(want, at);
  return (v) => typeof v === "string" && re.test(v);
}

/** `*` matches any run of characters; `\*` and `\\` are a literal star and backslash; `**` is refused. */
function wildcard(pattern: string, at: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") {
      if (pattern[i + 1] === "*") fail(at, "consecutive wildcard characters are not allowed");
      source += ".*";
    } else if (c === "\\") {
      const next = pattern[++i];
      if (next !== "*" && next !== "\\") fail(at, "a backslash may only escape * or \\");
      source += `\\${next}`;
    } else {
      source += c.replace(/[.+?^${}()|[\]]/g, "\\$&");
    }
  }
  return new RegExp(`^${source}$`, "s");
}

/** What an anything-but excludes: a string or number, a list of only strings or only numbers, or one operator. */
function anythingBut(arg: unknown, at: string): ValueTest {
  if (typeof arg === "string" || (typeof arg === "number" && Number.isFinite(arg))) return (v) => v === arg;
  if (Array.isArray(arg)) {
    const allStrings = arg.every((v) => typeof v === "string");
    const allNumbers = arg.every((v) => typeof v === "number" && Number.isFinite(v));
    if (arg.length === 0 || !(allStrings || allNumbers))
      fail(at, "a list must be non-empty, all strings or all numbers");
    const excluded = new Set<unknown>(arg);
    return (v) => excluded.has(v);
  }
  if (isRecord(arg)) {
    const [op, ...others] = Object.keys(arg);
    if (op === undefined || others.length > 0) fail(at, "takes exactly one operator");
    const inner = arg[op];
    if (op === "prefix" || op === "suffix") return stringOperator(op, text(inner, `${at}.${op}`), `${at}.${op}`);
    if (op === "equals-ignore-case" || op === "wildcard") {
      const values = Array.isArray(inner) && inner.length > 0 ? inner : [inner];
      const tests = values.map((value, i) => stringOperator(op, text(value, `${at}.${op}[${i}]`), `${at}.${op}`));
      return (v) => tests.some((test) => test(v));
    }
    fail(at, `unsupported operator "${op}" (prefix, suffix, equals-ignore-case or wildcard)`);
  }
  return fail(at, "takes a string, a number, a list of either, or an operator object");
}

const COMPARE: Readonly<Record<string, (bound: number) => (v: number) => boolean>> = {
  "=": (b) => (v) => v === b,
  ">": (b) => (v) => v > b,
  ">=": (b) => (v) => v >= b,
  "<": (b) => (v) => v < b,
  "<=": (b) => (v) => v <= b,
};

/** ["=", n], one bound ([">", n], ["<=", n], ...) or a lower and an upper bound, with -5e9 <= n <= 5e9. */
function numeric(arg: unknown, at: string): ValueTest {
  if (!Array.isArray(arg) || (arg.length !== 2 && arg.length !== 4))
    fail(at, "takes [op, number] or [op, number, op, number]");
  const bounds: Array<(v: number) => boolean> = [];
  let lower: number | undefined;
  let upper: number | undefined;
  for (let i = 0; i < arg.length; i += 2) {
    const [op, bound] = [arg[i], arg[i + 1]];
    const compare = typeof op === "string" && Object.hasOwn(COMPARE, op) ? COMPARE[op] : undefined;
    if (!compare) fail(`${at}[${i}]`, `unknown comparison ${JSON.stringify(op)} (=, <, <=, >, >=)`);
    if (typeof bound !== "number" || !(Math.abs(bound) <= NUMERIC_LIMIT))
      fail(`${at}[${i + 1}]`, "must be a number in ±5e9");
    if (op === "=" && arg.length > 2) fail(at, '"=" cannot be combined with another comparison');
    if (op === ">" || op === ">=") {
      if (lower !== undefined) fail(at, "takes at most one lower bound");
      lower = bound;
    } else if (op === "<" || op === "<=") {
      if (upper !== undefined) fail(at, "takes at most one upper bound");
      upper = bound;
    }
    bounds.push(compare(bound));
  }
  if (lower !== undefined && upper !== undefined && !(lower < upper))
    fail(at, "the lower bound must be below the upper");
  return (v) => typeof v === "number" && Math.abs(v) <= NUMERIC_LIMIT && bounds.every((inBound) => inBound(v));
}

/** An IPv4 address as an integer, or undefined. */
function ipv4(address: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  const octets = m?.slice(1).map(Number);
  if (!octets || octets.some((o) => o > 255)) return undefined;
  return octets.reduce((acc, o) => acc * 256 + o, 0);
}

function cidr(arg: unknown, at: string): ValueTest {
  const [address = "", bits = "32", ...rest] = text(arg, at).split("/");
  if (address.includes(":")) fail(at, "IPv6 CIDR blocks are not supported by the local emulator");
  const network = ipv4(address);
  const prefix = /^\d{1,2}$/.test(bits) ? Number(bits) : Number.NaN;
  if (network === undefined || !(prefix <= 32) || rest.length > 0)
    fail(at, "must be an IPv4 CIDR block, as 10.0.0.0/24");
  const block = 2 ** (32 - prefix);
  const base = Math.floor(network / block);
  return (v) => {
    const ip = typeof v === "string" ? ipv4(v) : undefined;
    return ip !== undefined && Math.floor(ip / block) === base;
  };
}
