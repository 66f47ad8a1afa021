// The local Lambda runtime's containers (local/lambda/host.ts), on a probe bundle (tests/support/probe-function.mjs):
// they scale out on demand up to the function's concurrency, are reused while warm, run one invocation at a time,
// and end on a timeout or a crash, the next invocation then getting a fresh one.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { FunctionHost, type LocalFunction } from "../../local/lambda/host";
import { repoRoot } from "../../local/servers";

const Probe = z.object({
  container: z.number(),
  invocations: z.number(),
  readyAt: z.number(),
  startedAt: z.number(),
  endedAt: z.number(),
});
type Probe = z.infer<typeof Probe>;

const hosts: FunctionHost[] = [];
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "tradeflow-functions-"));
});

afterEach(async () => {
  await Promise.all(hosts.splice(0).map((host) => host.stop()));
  rmSync(dir, { recursive: true, force: true });
});

/** A host running the probe as ProbeFunction. */
function probeHost(
  fn: Pick<LocalFunction, "concurrency"> & Partial<LocalFunction>,
  baseEnvironment: Record<string, string> = {},
): FunctionHost {
  const host = new FunctionHost(
    [
      {
        logicalId: "ProbeFunction",
        name: "local-ProbeFunction",
        arn: "arn:aws:lambda:us-east-1:000000000000:function:local-ProbeFunction",
        bundle: join(repoRoot, "tests", "support", "probe-function.mjs"),
        handlerName: "handler",
        timeoutSeconds: 10,
        memorySize: 128,
        environment: {},
        events: {},
        ...fn,
      },
    ],
    { baseEnvironment },
  );
  hosts.push(host);
  return host;
}

const invoke = async (host: FunctionHost, event: object = {}): Promise<Probe> =>
  Probe.parse(await host.invoke("ProbeFunction", event));

/** The most invocations that were running at one instant. */
function peakConcurrency(runs: readonly Probe[]): number {
  const edges = runs.flatMap((r) => [
    [r.startedAt, 1],
    [r.endedAt, -1],
  ]);
  // An end before a start at the same millisecond: back-to-back runs do not overlap.
  edges.sort(([t1 = 0, d1 = 0], [t2 = 0, d2 = 0]) => t1 - t2 || d1 - d2);
  let running = 0;
  let peak = 0;
  for (const [, delta = 0] of edges) {
    running += delta;
    peak = Math.max(peak, running);
  }
  return peak;
}

test("scales out to the function's concurrency and no further, one invocation per container at a time", async () => {
  const host = probeHost({ concurrency: 3 });
  const started = Date.now();
  const runs = await Promise.all(Array.from({ length: 8 }, () => invoke(host, { sleepMs: 300 })));

  const containers = new Set(runs.map((r) => r.container));
  expect(containers.size).toBe(3);
  expect(peakConcurrency(runs)).toBe(3);
  for (const container of containers) {
    const own = runs.filter((r) => r.container === container);
    expect(peakConcurrency(own)).toBe(1);
    expect(own.map((r) => r.invocations).sort()).toEqual(own.map((_, i) => i + 1));
  }
  // Eight 300 ms invocations on three containers take three rounds: the last two waited for a free container.
  expect(Date.now() - started).toBeGreaterThanOrEqual(900);
});

test("starts one container at a time: a burst is not a storm of cold starts", async () => {
  const host = probeHost({ concurrency: 4, environment: { PROBE_START_MS: "300" } });
  const runs = await Promise.all(Array.from({ length: 8 }, () => invoke(host, { sleepMs: 1000 })));
  const ready = [...new Map(runs.map((r) => [r.container, r.readyAt])).values()].sort((a, b) => a - b);
  expect(ready).toHaveLength(4);
  // Each start takes 300 ms and begins when the one before is up.
  for (let i = 1; i < ready.length; i++) expect(ready[i]! - ready[i - 1]!).toBeGreaterThanOrEqual(290);
});

test("reuses a warm container, and starts another only while every one is busy", async () => {
  const host = probeHost({ concurrency: 4 });
  const sequential: Probe[] = [];
  for (let i = 0; i < 4; i++) sequential.push(await invoke(host));
  expect(sequential.map((r) => r.container)).toEqual(Array(4).fill(sequential[0]?.container));
  expect(sequential.map((r) => r.invocations)).toEqual([1, 2, 3, 4]);

  const pair = await Promise.all([invoke(host, { sleepMs: 200 }), invoke(host, { sleepMs: 200 })]);
  expect(pair.map((r) => r.invocations).sort()).toEqual([1, 5]);
  expect(pair.find((r) => r.invocations === 5)?.container).toBe(sequential[0]?.container);
});

test("a timeout ends the container: its handler stops, and the next invocation starts a fresh one", async () => {
  const host = probeHost({ concurrency: 1, timeoutSeconds: 1 });
  const warm = await invoke(host);
  const file = join(dir, "overran");

  const started = Date.now();
  const overrun = invoke(host, { sleepMs: 2500, writeFile: file });
  // Queued behind the overrunning invocation, on the function's only container.
  const next = invoke(host);
  await expect(overrun).rejects.toMatchObject({
    name: "Sandbox.Timedout",
    errorType: "Sandbox.Timedout",
    errorMessage: "Task timed out after 1.00 seconds",
  });
  expect(Date.now() - started).toBeLessThan(2500);

  const fresh = await next;
  expect(fresh.container).not.toBe(warm.container);
  expect(fresh.invocations).toBe(1);
  // Past the moment the timed-out handler would have woken and written its file.
  await sleep(Math.max(0, started + 3000 - Date.now()));
  expect(existsSync(file)).toBe(false);
  expect((await invoke(host)).container).toBe(fresh.container);
});

test("a crashed container fails its invocation with Runtime.ExitError and is replaced", async () => {
  const host = probeHost({ concurrency: 1 });
  const warm = await invoke(host);
  await expect(invoke(host, { exitCode: 3 })).rejects.toMatchObject({
    name: "Runtime.ExitError",
    errorMessage: "local-ProbeFunction: the runtime exited with code 3",
  });
  const fresh = await invoke(host);
  expect(fresh.container).not.toBe(warm.container);
  expect(fresh.invocations).toBe(1);
});

test("counts each invocation's CPU, and its HTTP requests by the AWS service whose endpoint they went to", async () => {
  const server = createServer((_req, res) => res.end("{}"));
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  const { port } = server.address() as AddressInfo;
  try {
    const url = `http://127.0.0.1:${port}`;
    const host = probeHost({ concurrency: 2 }, { AWS_ENDPOINT_URL_DYNAMODB: url });
    await Promise.all([invoke(host, { get: [url, url] }), invoke(host, { get: [`${url}/x`] }), invoke(host)]);
    const { ProbeFunction } = host.usageSoFar();
    expect(ProbeFunction).toEqual({ invocations: 3, cpuMs: expect.any(Number), requests: { DYNAMODB: 3 } });
    expect(ProbeFunction?.cpuMs).toBeGreaterThan(0);
  } finally {
    server.close();
  }
});
