#!/usr/bin/env bash
# Installs what the browser specs need, only what is missing: Debian's chromium, nodejs
# and npm (scripts/deps.sh browser), then npm playwright-core from the repo's
# package.json / package-lock.json. No browser build is ever downloaded: playwright-core
# drives /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/deps.sh browser

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
installed=$(node -p "try { require('playwright-core/package.json').version } catch { '' }" 2>/dev/null || true)
locked=$(node -p "require('./package-lock.json').packages['node_modules/playwright-core'].version")
if [[ $installed != "$locked" ]]; then
  echo "browser-deps: installing playwright-core $locked (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
