#!/usr/bin/env bash
# The infrastructure gates: template.yaml and the state machines must pass every one. Offline: cfn-lint and
# checkov come from the project venv (scripts/setup.sh), asl-validator and jest from node_modules.
# Prints what each gate checked; exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

node=node_modules/.bin/node # Node 22, as npm scripts use
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=()

gate() {
  local name=$1
  shift
  echo "==> $name"
  if "$@"; then
    echo "    passed"
  else
    echo "    FAILED"
    failed+=("$name")
  fi
}

# asl-validator mutates what it reads, and cannot know ${...} substitutions: it validates a temporary copy in
# which every function ARN substitution is a placeholder Lambda ARN and any other one a placeholder string.
validate_asl() {
  local file copy status=0
  for file in statemachine/*.asl.json; do
    copy="$work/$(basename "$file")"
    "$node" -e '
      const fs = require("node:fs");
      const text = fs.readFileSync(process.argv[1], "utf8").replace(/\$\{([^}]+)\}/g, (_, name) =>
        name.endsWith("FunctionArn")
          ? `arn:aws:lambda:us-east-1:000000000000:function:${name.slice(0, -3)}`
          : `placeholder-${name}`);
      fs.writeFileSync(process.argv[2], text);
    ' "$file" "$copy" || return 1
    echo "    $file"
    "$node" node_modules/asl-validator/dist/bin/asl-validator.js --json-path "$copy" || status=1
  done
  return $status
}

gate "cfn-lint: template.yaml, zero errors and zero warnings" .venv/bin/cfn-lint template.yaml

gate "asl-validator: statemachine/*.asl.json with placeholder substitutions" validate_asl

# BC_SKIP_MAPPING and --skip-download keep checkov offline; skips live in the template's resource Metadata.
gate "checkov: template.yaml (cloudformation framework), zero failing checks" \
  env BC_SKIP_MAPPING=TRUE .venv/bin/checkov -f template.yaml --framework cloudformation --compact --quiet \
  --skip-download

gate "unit tests: template.yaml and ASL invariants" \
  "$node" --experimental-vm-modules node_modules/jest/bin/jest.js tests/unit/template.test.ts tests/unit/asl.test.ts \
  --selectProjects unit

gate "sam validate --lint and sam build (AlerterFunction and CommonLayer): node_modules untouched, the alerter loads" \
  bash scripts/sam-check.sh

gate "bundle report: docs/bundles.md is current with the function bundles" "$node" node_modules/.bin/tsx scripts/bundle-report.ts --check

gate "cost model: docs/cost-model.md is current with template.yaml" "$node" node_modules/.bin/tsx scripts/cost-model.ts --check

if [ ${#failed[@]} -gt 0 ]; then
  printf 'gates failed: %s\n' "${failed[@]}"
  exit 1
fi
echo "all gates passed"
