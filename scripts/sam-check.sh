#!/usr/bin/env bash
# The real SAM CLI (.venv-sam, scripts/setup.sh) on this repo, as a new user runs it: sam validate --lint, then
# sam build of what needs no container engine (AlerterFunction, which builds CommonLayer with it; the four image
# functions need Docker) into a scratch directory. Then checks that the build left node_modules as it was, printed
# no warning, and that the built alerter loads against the built layer the way Lambda resolves it.
set -euo pipefail
cd "$(dirname "$0")/.."

sam=.venv-sam/bin/sam
export SAM_CLI_TELEMETRY=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Every path, size and modification time under node_modules.
fingerprint() { find node_modules -printf '%p %s %T@\n' | sort | sha256sum; }

"$sam" validate --lint
before=$(fingerprint)
"$sam" build AlerterFunction --build-dir "$work/build" --cache-dir "$work/cache" 2>&1 | tee "$work/build.log"
if [ "$(fingerprint)" != "$before" ]; then
  echo "sam build changed node_modules" >&2
  exit 1
fi
if grep -i "warning" "$work/build.log" >&2; then
  echo "sam build printed warnings" >&2
  exit 1
fi

# Lambda puts the layer at /opt and resolves its nodejs/node_modules; ESM ignores NODE_PATH, so a node_modules
# link beside the function's code stands in for that.
fn="$work/build/AlerterFunction"
ln -s "$work/build/CommonLayer/nodejs/node_modules" "$fn/node_modules"
ALERTS_TABLE=alerts ALERT_TOPIC_ARN=arn:aws:sns:us-east-1:000000000000:alerts CONFIG_PATH=/tradeflow/dev \
  AWS_REGION=us-east-1 node_modules/.bin/node --input-type=module \
  -e "const { handler } = await import('$fn/index.mjs'); if (typeof handler !== 'function') process.exit(1);"
echo "built alerter loads against the built layer"
