// Bundles every functions/<name>/index.ts into build/<name>/index.mjs: the artifact the container images copy,
// the alerter zip ships and the local runtime loads. ESM, minified, source maps, AWS SDK v3 tree-shaken in.
// `--layer <dir>` instead builds the CommonLayer content into <dir> (sam build calls it from layers/common/Makefile).
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type BuildOptions, build } from "esbuild";

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
  mainFields: ["module", "main"],
  banner: { js: banner },
  logLevel: "warning",
};

export async function buildFunction(name: string, outdir = join("build", name)): Promise<void> {
  await build({ ...bundle, entryPoints: [join("functions", name, "index.ts")], outfile: join(outdir, "index.mjs") });
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
    outExtension: { ".js": ".mjs" },
    splitting: true,
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
  const args = process.argv.slice(2);
  if (args[0] === "--layer") {
    const dir = args[1];
    if (!dir) throw new Error("usage: build.ts --layer <artifacts dir>");
    await buildLayer(dir);
    console.log(`built the common layer into ${dir}`);
  } else {
    const names = args.length ? args : functionNames();
    await Promise.all(names.map((n) => buildFunction(n)));
    console.log(`built ${names.join(", ")} into build/`);
  }
}
