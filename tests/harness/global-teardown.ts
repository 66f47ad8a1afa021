export default async function globalTeardown(): Promise<void> {
  await Promise.all((globalThis.__tradeflowServers ?? []).map((s) => s.stop()));
}
