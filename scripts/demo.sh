#!/usr/bin/env bash
# The main job. For now: the matching engine demo against a throwaway local redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
npm run --silent demo:matcher -- "$@"
