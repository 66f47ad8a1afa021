// HTTP API route selection as API Gateway does it: a route key is `METHOD /path` (`ANY` for every method) or
// `$default`; in a path, `{name}` takes one segment and a greedy `{name+}`, last, one or more. A request goes to an
// exact match of path and method first, then to a greedy one, then to `$default`; else API Gateway answers 404.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html
export const DEFAULT_ROUTE = "$default";

type Segment =
  | { readonly kind: "literal"; readonly text: string }
  | { readonly kind: "param"; readonly name: string }
  | { readonly kind: "greedy"; readonly name: string };

export interface RouteTemplate {
  readonly routeKey: string;
  /** Upper case; ANY matches every method. Empty for $default. */
  readonly method: string;
  readonly segments: readonly Segment[];
}

/** A route key's method and path template; throws for one API Gateway would refuse. */
export function routeTemplate(routeKey: string): RouteTemplate {
  if (routeKey === DEFAULT_ROUTE) return { routeKey, method: "", segments: [] };
  const [method, path, ...rest] = routeKey.split(" ");
  if (!method || !path?.startsWith("/") || rest.length > 0)
    throw new Error(`route key ${routeKey} is not METHOD /path`);
  const parts = path === "/" ? [] : path.slice(1).split("/");
  const segments = parts.map((part, i): Segment => {
    const variable = /^\{([A-Za-z0-9._-]+)(\+?)\}$/.exec(part);
    if (!variable) return { kind: "literal", text: part };
    const [, name = "", plus] = variable;
    if (plus && i < parts.length - 1) throw new Error(`route ${routeKey}: a greedy path variable must be last`);
    return plus ? { kind: "greedy", name } : { kind: "param", name };
  });
  return { routeKey, method: method.toUpperCase(), segments };
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The path parameters (URL-decoded, as API Gateway passes them on) if the template matches the path. */
function matchPath(segments: readonly Segment[], parts: readonly string[]): Record<string, string> | undefined {
  const parameters: Record<string, string> = {};
  for (const [i, segment] of segments.entries()) {
    const part = parts[i];
    if (part === undefined || (part === "" && segment.kind !== "literal")) return undefined;
    if (segment.kind === "greedy") {
      parameters[segment.name] = parts.slice(i).map(decode).join("/");
      return parameters;
    }
    if (segment.kind === "literal" && segment.text !== part) return undefined;
    if (segment.kind === "param") parameters[segment.name] = decode(part);
  }
  return parts.length === segments.length ? parameters : undefined;
}

/** Lower sorts first: literals before variables, segment by segment; a route naming the method before ANY. */
function rank(route: RouteTemplate): number[] {
  const kinds = route.segments.map((s) => (s.kind === "literal" ? 0 : s.kind === "param" ? 1 : 2));
  return [kinds.includes(2) ? 1 : 0, ...kinds, route.method === "ANY" ? 1 : 0];
}

function compareRanks(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? -1) - (b[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

export interface RouteMatch<R> {
  readonly route: R;
  readonly pathParameters: Readonly<Record<string, string>>;
}

/** The route a request goes to, or undefined (API Gateway's 404). `path` is the raw path, without the query. */
export function selectRoute<R extends RouteTemplate>(
  routes: readonly R[],
  method: string,
  path: string,
): RouteMatch<R> | undefined {
  const parts = path === "/" ? [] : path.slice(1).split("/");
  let best: { match: RouteMatch<R>; rank: number[] } | undefined;
  for (const route of routes) {
    if (route.routeKey === DEFAULT_ROUTE || (route.method !== method && route.method !== "ANY")) continue;
    const pathParameters = matchPath(route.segments, parts);
    if (!pathParameters) continue;
    const r = rank(route);
    if (!best || compareRanks(r, best.rank) < 0) best = { match: { route, pathParameters }, rank: r };
  }
  const fallback = routes.find((r) => r.routeKey === DEFAULT_ROUTE);
  return best?.match ?? (fallback && { route: fallback, pathParameters: {} });
}
