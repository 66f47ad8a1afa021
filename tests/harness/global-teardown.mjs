export default async function globalTeardown() {
  await Promise.all((globalThis.__tradeflowServers ?? []).map((s) => s.stop()));
}
