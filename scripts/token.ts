// npm run token -- --client acme: an access token for the running stack's trading API, from its issuer's token
// endpoint (OAuth 2.0 client credentials, found through the issuer's discovery document), printed alone so that
// TOKEN=$(npm run -s token -- --client acme) works.
import { z } from "zod";
import { cliArgs, requireRunningStack, runCommand, UsageError } from "./cli";

const usage = `usage: npm run token -- --client <client id> [--scope "<scope> ..."] [--export]

  --client   the client id: the token's sub and client_id, the clientId the trading API acts for
  --scope    space-separated scopes for the token's scope claim
  --export   print shell lines instead: export API=<the trading API's URL, ending with /> and TOKEN=<the token>,
             for eval "$(npm run -s token -- --client acme --export)"

Asks the running stack's token endpoint and prints the access token only:
  TOKEN=$(npm run -s token -- --client acme)
  curl -H "authorization: Bearer $TOKEN" <apiEndpoint of .local/stack.json>/instruments`;

const { values } = cliArgs(usage, {
  options: {
    client: { type: "string" },
    scope: { type: "string" },
    export: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  },
});

async function json(res: Response, what: string): Promise<unknown> {
  const body: unknown = await res.json();
  if (!res.ok) throw new Error(`${what} answered ${res.status}: ${JSON.stringify(body)}`);
  return body;
}

runCommand(async () => {
  if (!values.client) throw new UsageError(`--client is required\n\n${usage}`);
  const { issuerUrl, apiEndpoint } = requireRunningStack();
  const discovery = await fetch(`${issuerUrl}/.well-known/openid-configuration`);
  const { token_endpoint } = z.object({ token_endpoint: z.string() }).parse(await json(discovery, "the issuer"));
  const form = {
    grant_type: "client_credentials",
    client_id: values.client,
    ...(values.scope && { scope: values.scope }),
  };
  const res = await fetch(token_endpoint, { method: "POST", body: new URLSearchParams(form) });
  const { access_token } = z.object({ access_token: z.string() }).parse(await json(res, "the token endpoint"));
  process.stdout.write(
    values.export ? `export API='${apiEndpoint}/'\nexport TOKEN='${access_token}'\n` : `${access_token}\n`,
  );
  return 0;
});
