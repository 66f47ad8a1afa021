// Bundles every functions/<name>/index.ts into build/<name>/index.mjs: the artifact the container images copy,
// the alerter zip ships and the local runtime loads. ESM, minified, source maps, AWS SDK v3 tree-shaken in.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

// Powertools Tracer pulls in CommonJS (aws-xray-sdk-core); an ESM bundle needs a `require` for it.
const banner = 'import { createRequire as __cr } from "node:module"; const require = __cr(import.meta.url);';

export async function buildFunction(name: string, outdir = join("build", name)): Promise<void> {
  await build({
    entryPoints: [join("functions", name, "index.ts")],
    outfile: join(outdir, "index.mjs"),
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
  });
}

export function functionNames(): string[] {
  return readdirSync("functions").filter((d) => existsSync(join("functions", d, "index.ts")));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const only = process.argv.slice(2);
  const names = only.length ? only : functionNames();
  await Promise.all(names.map((n) => buildFunction(n)));
  console.log(`built ${names.join(", ")} into build/`);
}
