#!/usr/bin/env bash
# The main job. For now: the matching engine demo against a throwaway local redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run --silent demo:matcher -- "$@"
