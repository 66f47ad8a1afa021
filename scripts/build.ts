// Bundles every functions/<name>/index.ts into build/<name>/: index.mjs and the chunks it imports only when a path
// needs them. The artifact the container images copy, the alerter zip ships and the local runtime loads. ESM,
// minified, source maps, AWS SDK v3 tree-shaken in.
// `--layer <dir>` builds the CommonLayer content into <dir>, and `--zip <name> <dir>` a zip function's code with
// @tradeflow/common left to the layer (sam build calls both from the Makefiles).
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type BuildOptions, build, type Metafile } from "esbuild";

// Powertools Tracer pulls in CommonJS (aws-xray-sdk-core); an ESM bundle needs a `require` for it.
const banner = 'import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);';

const bundle: BuildOptions = {
  bundle: true,
  platform: "node",
  target: "node22",
  format: "esm",
  minify: true,
  sourcemap: true,
  treeShaking: true,
  // Dynamic imports become chunks of their own, loaded on the path that needs them: the SDK's credential
  // providers other than the environment's (a Lambda never reaches them), the Redis AUTH secret's client.
  splitting: true,
  outExtension: { ".js": ".mjs" },
  chunkNames: "chunks/[name]-[hash]",
  mainFields: ["module", "main"],
  banner: { js: banner },
  metafile: true,
  logLevel: "warning",
};

/** build/<name>/ (or outdir), emptied first so no chunk of an earlier build is left beside the new ones. */
export async function buildFunction(
  name: string,
  outdir = join("build", name),
  external: string[] = [],
): Promise<Metafile> {
  rmSync(outdir, { recursive: true, force: true });
  const result = await build({
    ...bundle,
    entryPoints: { index: join("functions", name, "index.ts") },
    outdir,
    external,
  });
  return result.metafile ?? { inputs: {}, outputs: {} };
}

/** The bytes a cold start loads (the entry and the chunks it imports statically) and all the bundle's code. */
export function bundleBytes(metafile: Metafile): { initBytes: number; totalBytes: number; initFiles: string[] } {
  const outputs = metafile.outputs;
  // Each dynamic import is an entry point of its own to esbuild: the function's is the one named index.
  const entry = Object.keys(outputs).find((path) => path.endsWith("/index.mjs"));
  const initFiles: string[] = [];
  const visit = (path: string) => {
    if (initFiles.includes(path)) return;
    initFiles.push(path);
    for (const i of outputs[path]?.imports ?? []) if (i.kind === "import-statement" && i.path in outputs) visit(i.path);
  };
  if (entry) visit(entry);
  const code = Object.keys(outputs).filter((path) => path.endsWith(".mjs"));
  const sum = (paths: string[]) => paths.reduce((n, path) => n + (outputs[path]?.bytes ?? 0), 0);
  return { initBytes: sum(initFiles), totalBytes: sum(code), initFiles };
}

export function functionNames(): string[] {
  return readdirSync("functions").filter((d) => existsSync(join("functions", d, "index.ts")));
}

const COMMON_SRC = join("layers", "common", "src");

/**
 * The layer: @tradeflow/common as an ESM package under nodejs/node_modules (where Lambda resolves layer
 * packages), one entry per module with its third-party code bundled in and shared code split into chunks, so
 * `import ... from "@tradeflow/common/alerts"` in the alerter's zip resolves to the same exports as the source.
 */
export async function buildLayer(artifactsDir: string): Promise<void> {
  const packageDir = join(artifactsDir, "nodejs", "node_modules", "@tradeflow", "common");
  const modules = readdirSync(COMMON_SRC).filter((m) => existsSync(join(COMMON_SRC, m, "index.ts")));
  await build({
    ...bundle,
    entryPoints: Object.fromEntries(modules.map((m) => [`${m}/index`, join(COMMON_SRC, m, "index.ts")])),
    outdir: join(packageDir, "dist"),
  });
  mkdirSync(packageDir, { recursive: true });
  const manifest = {
    name: "@tradeflow/common",
    private: true,
    type: "module",
    exports: { "./*": "./dist/*/index.mjs" },
  };
  writeFileSync(join(packageDir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [first, ...rest] = process.argv.slice(2);
  if (first === "--layer") {
    const [dir] = rest;
    if (!dir) throw new Error("usage: build.ts --layer <artifacts dir>");
    await buildLayer(dir);
    console.log(`built the common layer into ${dir}`);
  } else if (first === "--zip") {
    const [name, dir] = rest;
    if (!name || !dir) throw new Error("usage: build.ts --zip <function> <artifacts dir>");
    await buildFunction(name, dir, ["@tradeflow/common"]);
    console.log(`built ${name} (with @tradeflow/common from the layer) into ${dir}`);
  } else {
    const names = first ? [first, ...rest] : functionNames();
    // build/<name>.meta.json, beside the bundle rather than in it: npm run bench:coldstart reads the sizes there.
    await Promise.all(
      names.map(async (n) => writeFileSync(join("build", `${n}.meta.json`), JSON.stringify(await buildFunction(n)))),
    );
    console.log(`built ${names.join(", ")} into build/`);
  }
}
