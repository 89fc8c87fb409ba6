#!/usr/bin/env bash
# Installs what the browser specs need, only what is missing: Debian's chromium, nodejs
# and npm (scripts/deps.sh browser), then the npm packages of the repo's package.json /
# package-lock.json (playwright-core, axe-core). No browser build is ever downloaded:
# playwright-core drives /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh browser

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
# the locked top-level packages that are missing or at another version
stale=$(node -e "
  const lock = require('./package-lock.json');
  for (const [dir, p] of Object.entries(lock.packages)) {
    if (!/^node_modules\/[^/]+$/.test(dir)) continue;
    let have = '';
    try { have = require('./' + dir + '/package.json').version; } catch {}
    if (have !== p.version) console.log(dir.slice(13) + '@' + p.version);
  }")
if [[ -n $stale ]]; then
  echo "browser-deps: installing $(echo $stale) (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
