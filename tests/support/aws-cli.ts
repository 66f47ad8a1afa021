// The AWS CLI v2 (Debian's awscli, which setup installs) that the tests drive the local stack with: the first `aws`
// on PATH that is a v2, since a v1 (from pip) may come first.
import { execFileSync } from "node:child_process";
import { delimiter, join } from "node:path";
import { repoRoot } from "../../local/servers";

let found: string | undefined;

export function awsCliV2(): string {
  if (found) return found;
  for (const d of (process.env.PATH ?? "").split(delimiter)) {
    const candidate = join(d, "aws");
    try {
      if (execFileSync(candidate, ["--version"], { encoding: "utf8" }).startsWith("aws-cli/2")) {
        found = candidate;
        return candidate;
      }
    } catch {}
  }
  throw new Error("no AWS CLI v2 on PATH: run scripts/setup.sh (apt-get install awscli)");
}

/** The AWS CLI v1 from PyPI (setup's .venv-awscli): it has the SQS message-move commands Debian's v2 predates. */
export function awsCliV1(): string {
  return join(repoRoot, ".venv-awscli", "bin", "aws");
}

/** The CLI for a command: Debian's v2, but the v1 for the SQS message-move commands it lacks. */
export function awsCliFor(args: readonly string[]): string {
  return args.some((a) => /^(start|list|cancel)-message-move-tasks?$/.test(a)) ? awsCliV1() : awsCliV2();
}
