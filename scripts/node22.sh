#!/usr/bin/env bash
# Runs a command with Node.js >= 22.12 first on PATH: `bash scripts/node22.sh vitest run`.
# The npm scripts that run wrangler or vitest go through this, so `npm run dev` and `npm test` work on
# a machine whose Node is older (18, 20): scripts/node-env.sh installs the `node@22` package into
# .tools/ once and puts it first on PATH; on Node >= 22.12 it changes nothing. npm has already put
# node_modules/.bin on PATH, and those tools start with `#!/usr/bin/env node`, so they get Node 22.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/node-env.sh"
exec "$@"
