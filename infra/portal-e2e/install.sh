#!/usr/bin/env bash
# Installs what the portal's browser tests need: Debian's chromium (skipped when
# /usr/bin/chromium exists) and the npm packages pinned in package-lock.json
# (playwright-core, which drives that chromium and downloads no browser of its own).
#
# Idempotent and non-interactive: safe to run before every build, in CI (CI=true,
# no standard input) and on a developer machine.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
chromium=/usr/bin/chromium
interactive=0
if [ -t 0 ] && [ "${CI:-}" != "true" ]; then
  interactive=1
fi

log() { printf 'portal-e2e/install.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    if [ "$interactive" -eq 1 ]; then sudo "$@"; else sudo -n "$@"; fi
  else
    die "need root to run: $* (install sudo, or run this script as root)"
  fi
}

ensure_chromium() {
  [ -x "$chromium" ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found: install Chromium at $chromium with your system's package manager"
  log "apt-get install chromium"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium </dev/null
  [ -x "$chromium" ] || die "$chromium still missing after apt-get install chromium"
}

ensure_modules() {
  local lock="$here/node_modules/.package-lock.json"
  if [ -f "$lock" ] && [ "$lock" -nt "$here/package-lock.json" ] && [ "$lock" -nt "$here/package.json" ]; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 || die "npm is required (infra/local/install.sh installs Node.js and npm)"
  log "npm ci in $here"
  # playwright-core never downloads browsers; the tests launch $chromium.
  (cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error </dev/null)
}

ensure_chromium
ensure_modules
