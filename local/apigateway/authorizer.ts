// API Gateway's JWT authorizer for HTTP APIs: the token from the identity source (alone or after `Bearer `), its
// RSA signature checked with the key its `kid` names in the issuer's JWKS (found through the issuer's OpenID
// discovery document and cached, as API Gateway caches keys for up to two hours), then iss, aud (client_id when
// there is no aud), exp, nbf, iat and the route's scopes. A refusal is 401 (403 for scopes) with a
// www-authenticate header in API Gateway's form.
// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-jwt-authorizer.html
// https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-troubleshooting-jwt.html
import { createPublicKey, type JsonWebKey, verify } from "node:crypto";
import { z } from "zod";

export interface JwtAuthorizerConfig {
  readonly name: string;
  /** The request header of the identity source ($request.header.Authorization), lower case. */
  readonly header: string;
  readonly issuer: string;
  readonly audience: readonly string[];
}

export type Authorization =
  | {
      readonly ok: true;
      /** Every claim as a string, as API Gateway passes them on. */
      readonly claims: Readonly<Record<string, string>>;
      readonly scopes: readonly string[] | null;
    }
  | { readonly ok: false; readonly status: 401 | 403; readonly challenge: string; readonly error: string };

/** API Gateway's cache of an issuer's keys, and its timeouts for the discovery document and the JWKS. */
const KEY_CACHE_MS = 2 * 60 * 60 * 1000;
const FETCH_TIMEOUT_MS = 1500;
/** Only RSA-based algorithms are supported. */
const RSA_HASHES: Readonly<Record<string, string>> = { RS256: "sha256", RS384: "sha384", RS512: "sha512" };

const Header = z.object({ alg: z.string(), kid: z.string().optional() });
const Claims = z.record(z.string(), z.unknown());
const Discovery = z.object({ jwks_uri: z.string().url() });
const KeySet = z.object({ keys: z.array(z.object({ kid: z.string().optional(), kty: z.string() }).loose()) });

function refused(error: string, status: 401 | 403 = 401, scope = ""): Authorization {
  const kind = status === 403 ? "insufficient_scope" : "invalid_token";
  return {
    ok: false,
    status,
    challenge: `Bearer scope="${scope}" error="${kind}" error_description="${error}"`,
    error,
  };
}

/** A claim as API Gateway hands it to integrations: numbers as their digits, lists as `[a b]`. */
function claimString(value: unknown): string {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return `[${value.map(claimString).join(" ")}]`;
  return typeof value === "object" && value !== null ? JSON.stringify(value) : String(value);
}

function scopesOf(claims: Record<string, unknown>): string[] {
  const raw = claims.scope ?? claims.scp;
  const list = Array.isArray(raw) ? raw.map(String) : typeof raw === "string" ? raw.split(" ") : [];
  return list.filter((s) => s !== "");
}

async function fetchJson(url: string): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return res.json();
}

export class JwtAuthorizer {
  private keySet: { keys: Promise<JsonWebKey[]>; until: number } | undefined;

  constructor(readonly config: JwtAuthorizerConfig) {}

  /** The issuer's keys: from its JWKS, found through its discovery document; kept two hours, a failure not at all. */
  private keys(): Promise<JsonWebKey[]> {
    if (this.keySet && Date.now() < this.keySet.until) return this.keySet.keys;
    const keys = (async () => {
      const discovery = `${this.config.issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
      const { jwks_uri } = Discovery.parse(await fetchJson(discovery));
      return KeySet.parse(await fetchJson(jwks_uri)).keys as JsonWebKey[];
    })();
    this.keySet = { keys, until: Date.now() + KEY_CACHE_MS };
    keys.catch(() => {
      this.keySet = undefined;
    });
    return keys;
  }

  async authorize(headers: Readonly<Record<string, string>>, routeScopes: readonly string[]): Promise<Authorization> {
    const token = headers[this.config.header]?.replace(/^Bearer\s+/i, "").trim();
    if (!token) return { ok: false, status: 401, challenge: "Bearer", error: "the request has no token" };
    const [header, payload, signature, ...extra] = token.split(".");
    const decoded = (part: string | undefined) => JSON.parse(Buffer.from(part ?? "", "base64url").toString("utf8"));
    let parsed: { header: z.infer<typeof Header>; claims: Record<string, unknown> };
    try {
      if (extra.length > 0 || !signature) throw new Error("not three parts");
      parsed = { header: Header.parse(decoded(header)), claims: Claims.parse(decoded(payload)) };
    } catch {
      return refused("the token is malformed");
    }
    const hash = RSA_HASHES[parsed.header.alg];
    if (!hash) return refused(`signing method ${parsed.header.alg} is invalid`);
    let keys: JsonWebKey[];
    try {
      keys = await this.keys();
    } catch (err) {
      return refused(`the issuer's keys could not be fetched: ${err instanceof Error ? err.message : String(err)}`);
    }
    const key = keys.find((k) => k.kid === parsed.header.kid && k.kty === "RSA");
    if (!key) return refused("the token's kid matches no key of the issuer");
    const signed = Buffer.from(`${header}.${payload}`);
    if (!verify(hash, signed, createPublicKey({ key, format: "jwk" }), Buffer.from(signature ?? "", "base64url")))
      return refused("the token's signature is invalid");
    return this.check(parsed.claims, routeScopes);
  }

  private check(claims: Record<string, unknown>, routeScopes: readonly string[]): Authorization {
    const now = Date.now() / 1000;
    const audience = claims.aud ?? claims.client_id;
    const audiences = Array.isArray(audience) ? audience : [audience];
    if (claims.iss !== this.config.issuer) return refused("the token does not have a valid issuer");
    if (!audiences.some((a) => typeof a === "string" && this.config.audience.includes(a)))
      return refused("the token does not have a valid audience");
    if (typeof claims.exp !== "number" || claims.exp <= now) return refused("the token has expired");
    if (claims.nbf !== undefined && !(typeof claims.nbf === "number" && claims.nbf <= now))
      return refused("the token is not valid yet");
    if (claims.iat !== undefined && !(typeof claims.iat === "number" && claims.iat <= now))
      return refused("the token was issued in the future");
    const scopes = scopesOf(claims);
    if (routeScopes.length > 0 && !routeScopes.some((s) => scopes.includes(s)))
      return refused("the token has none of the route's scopes", 403, routeScopes.join(" "));
    const strings = Object.fromEntries(Object.entries(claims).map(([name, value]) => [name, claimString(value)]));
    return { ok: true, claims: strings, scopes: scopes.length > 0 ? scopes : null };
  }
}
