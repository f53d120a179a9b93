#!/usr/bin/env bash
# govulncheck over the module: fails when code here reaches a known vulnerability
# in a module, and in the standard library of the Go that builds it unless
# VULNCHECK_STDLIB=report, which lists those as NOT FIXED without failing.
#
# The database is the live one at vuln.go.dev when this machine reaches it. When it
# does not, a snapshot of the same database is built from the golang.org/x/vulndb
# module (pinned by VULNDB_VERSION, fetched through the Go module proxy like any
# module) with that module's own indexdb command, and the output says so, with the
# snapshot's date. If neither can be had, the check says it was SKIPPED and why.
#
# Needs GOVULNCHECK and INDEXDB (the Makefile installs both into .local/bin/<toolchain>).
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
: "${GOVULNCHECK:?path to govulncheck}" "${INDEXDB:?path to indexdb}" "${VULNDB_VERSION:?golang.org/x/vulndb version}"
live=https://vuln.go.dev

skip() {
  echo "govulncheck: SKIPPED: $*" >&2
  echo "govulncheck: SKIPPED: no vulnerability check ran; dependencies are unchecked" >&2
  exit 0
}

if command -v curl >/dev/null && curl -sfI -m 10 "$live/index/db.json" >/dev/null 2>&1; then
  db=$live
  echo "govulncheck: database $live"
else
  dir=.local/vulndb/$VULNDB_VERSION
  if [ ! -f "$dir/index/db.json" ]; then
    src=$($GO mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" 2>/dev/null |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || true
    if [ -z "$src" ] || [ ! -d "$src/data/osv" ]; then
      skip "$live is not reachable and golang.org/x/vulndb@$VULNDB_VERSION could not be fetched through the Go module proxy"
    fi
    rm -rf "$dir.tmp"
    mkdir -p "$(dirname "$dir")"
    "$INDEXDB" -vulns "$src/data/osv" -out "$dir.tmp"
    mv "$dir.tmp" "$dir"
  fi
  db=file://$PWD/$dir
  stamp=$(echo "$VULNDB_VERSION" | sed -nE 's/^v0\.0\.0-([0-9]{4})([0-9]{2})([0-9]{2}).*/\1-\2-\3/p')
  echo "govulncheck: $live not reachable; database snapshot golang.org/x/vulndb@$VULNDB_VERSION (entries up to ${stamp:-its date})"
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$GOVULNCHECK" -db "$db" -format json ./... >"$out"
$GO run ./infra/cmd/vulngate -stdlib="${VULNCHECK_STDLIB:-fail}" <"$out"
