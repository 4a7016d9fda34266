#!/usr/bin/env bash
# Runs the tests against the package as a user gets it: `npm pack`, then the tarball installed
# into a throwaway project beside the tests and their peer libraries (test/package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/.."
# The examples that use the package (examples/node), run by test/example.test.mjs.
export RL_EXAMPLES="$PWD/../../examples"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tgz=$(npm pack --silent --pack-destination "$tmp" | tail -1)
mkdir "$tmp/project"
cp -r test/*.mjs test/support test/types test/package.json test/package-lock.json "$tmp/project/"
cp -a test/node_modules "$tmp/project/"
(cd "$tmp/project" && npm install --no-save --offline --no-audit --no-fund --loglevel=error "$tmp/$tgz" >/dev/null)
cd "$tmp/project"
# The declarations as a TypeScript user sees them (the package's own tsc and @types/node).
ln -s "$OLDPWD/node_modules/@types" node_modules/@types
"$OLDPWD/node_modules/.bin/tsc" -p types/tsconfig.json
node --test --test-concurrency="${TEST_CONCURRENCY:-2}" --test-timeout=120000 --test-force-exit "${@:-.}"
