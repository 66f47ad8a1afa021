// The local OpenID Connect issuer the HTTP API's JWT authorizer trusts, in place of the identity provider the
// template's issuer parameter names on AWS: an RSA key pair made at start (never stored, so tokens die with the
// stack), its discovery document and JWKS where API Gateway looks for them, and an OAuth 2.0 token endpoint for the
// client credentials grant (RFC 6749 §4.4) that issues an RS256 access token to any client id it is given.
import { generateKeyPairSync, type JsonWebKey, randomUUID, sign } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { BodyTooLarge, readBody } from "../gateway";
import { closeNow, listenOnLoopback } from "../servers";

export const TOKEN_LIFETIME_SECONDS = 3600;
const TOKEN_REQUEST_MAX_BYTES = 64 * 1024;
/** RFC 6749: a client id is visible ASCII and spaces; a scope, space-separated tokens without `"` or `\`. */
const CLIENT_ID = /^[\x20-\x7e]{1,256}$/;
const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]+( [\x21\x23-\x5b\x5d-\x7e]+)*$/;

export interface TokenOptions {
  /** Space-separated scopes: the token's `scope` claim. */
  readonly scope?: string;
  /** Claims that replace (or, undefined, remove) the issued ones: a wrong `aud`, an `exp` in the past... */
  readonly claims?: Readonly<Record<string, unknown>>;
}

export class LocalIssuer {
  private readonly server: Server;
  private readonly keyId = randomUUID();
  private readonly keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
  private origin = "";
  private audience: string | undefined;

  constructor() {
    this.server = createServer((req, res) =>
      this.handle(req, res).catch((err: unknown) =>
        json(res, 500, { error: "server_error", error_description: String(err) }),
      ),
    );
  }

  /** The issuer identifier: `iss` of its tokens, and what the stack sets the template's issuer parameter to. */
  get url(): string {
    if (!this.origin) throw new Error("the issuer is not listening yet");
    return this.origin;
  }

  get tokenEndpoint(): string {
    return `${this.url}/oauth2/token`;
  }

  get jwks(): { keys: JsonWebKey[] } {
    return { keys: [{ ...this.keys.publicKey.export({ format: "jwk" }), kid: this.keyId, use: "sig", alg: "RS256" }] };
  }

  /** Listens first: the template's parameters take the issuer's URL before the API it issues for exists. */
  async listen(port = 0): Promise<string> {
    this.origin = `http://127.0.0.1:${await listenOnLoopback(this.server, port)}`;
    return this.origin;
  }

  /** Issues tokens for this audience from then on (the template's authorizer audience). */
  serve(audience: string): void {
    this.audience = audience;
  }

  /** An access token for a client, as the token endpoint issues it: `sub` and `client_id` are the client id. */
  token(clientId: string, options: TokenOptions = {}): string {
    if (this.audience === undefined) throw new Error("the issuer has no audience yet");
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = {
      iss: this.url,
      sub: clientId,
      aud: this.audience,
      client_id: clientId,
      ...(options.scope && { scope: options.scope }),
      iat: now,
      exp: now + TOKEN_LIFETIME_SECONDS,
      jti: randomUUID(),
      ...options.claims,
    };
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const signed = `${part({ alg: "RS256", typ: "JWT", kid: this.keyId })}.${part(claims)}`;
    return `${signed}.${sign("sha256", Buffer.from(signed), this.keys.privateKey).toString("base64url")}`;
  }

  close(): Promise<void> {
    return closeNow(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && path === "/.well-known/openid-configuration")
      return json(res, 200, {
        issuer: this.url,
        jwks_uri: `${this.url}/.well-known/jwks.json`,
        token_endpoint: this.tokenEndpoint,
        grant_types_supported: ["client_credentials"],
        token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
        response_types_supported: ["token"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256"],
      });
    if (req.method === "GET" && path === "/.well-known/jwks.json") return json(res, 200, this.jwks);
    if (path !== "/oauth2/token") {
      req.resume();
      return json(res, 404, { error: "not_found" });
    }
    if (req.method !== "POST") {
      req.resume();
      return json(res, 405, { error: "invalid_request", error_description: "the token endpoint takes POST" });
    }
    let form: URLSearchParams;
    try {
      form = new URLSearchParams((await readBody(req, TOKEN_REQUEST_MAX_BYTES)).toString("utf8"));
    } catch (err) {
      if (err instanceof BodyTooLarge) return json(res, 413, { error: "invalid_request" });
      throw err;
    }
    const [status, answer] = this.grant(form, req.headers.authorization);
    json(res, status, answer);
  }

  /** RFC 6749 §4.4.2-4.4.3 and §5; any client id is a known client, with any secret. */
  private grant(form: URLSearchParams, authorization: string | undefined): [number, Record<string, unknown>] {
    const basic = /^Basic\s+(\S+)$/i.exec(authorization ?? "")?.[1];
    const clientId = basic ? basicClientId(basic) : form.get("client_id");
    if (form.get("grant_type") !== "client_credentials")
      return [400, { error: "unsupported_grant_type", error_description: "only client_credentials" }];
    if (!clientId || !CLIENT_ID.test(clientId))
      return [401, { error: "invalid_client", error_description: "client_id is missing or not valid" }];
    const scope = form.get("scope") ?? undefined;
    if (scope !== undefined && !SCOPE.test(scope)) return [400, { error: "invalid_scope" }];
    if (this.audience === undefined) return [503, { error: "temporarily_unavailable" }];
    return [
      200,
      {
        access_token: this.token(clientId, { ...(scope && { scope }) }),
        token_type: "Bearer",
        expires_in: TOKEN_LIFETIME_SECONDS,
        ...(scope && { scope }),
      },
    ];
  }
}

/** The client id of HTTP Basic credentials (form-urlencoded, RFC 6749 §2.3.1), or undefined if they are malformed. */
function basicClientId(credentials: string): string | undefined {
  try {
    return decodeURIComponent(Buffer.from(credentials, "base64").toString("utf8").split(":")[0] ?? "");
  } catch {
    return undefined;
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res
    .writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
      "cache-control": "no-store",
    })
    .end(text);
}
