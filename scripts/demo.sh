#!/usr/bin/env bash
# The main job: the whole pipeline on this machine (no AWS account, no Docker) running a seeded scenario.
# Arguments go to scripts/demo-pipeline.ts: --orders N --seed S --in-flight N.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"
npm run --silent build
npm run --silent demo -- "$@"
