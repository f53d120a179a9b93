#!/usr/bin/env bash
# Installs what the local emulators need: a Java development kit (DynamoDB Local,
# and javac for the launcher that keeps it on the loopback interface),
# Node.js and npm (fauxqs), and the npm packages pinned in package-lock.json;
# and, for the tests, Python's cryptography package.
#
# Idempotent and non-interactive: safe to run before every build, in CI
# (CI=true, no standard input) and on a developer machine. When everything is
# already in place it only compares a stamp file and exits.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
stamp="$here/node_modules/.install-stamp"
min_java=17
min_node=20
# sudo may ask for a password only when a person is at a terminal.
interactive=0
if [ -t 0 ] && [ "${CI:-}" != "true" ]; then
  interactive=1
fi

log() { printf 'install.sh: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# major_version prints the first number found in a version string,
# treating the legacy "1.8" Java scheme as 8.
major_version() {
  if [[ "$1" =~ ([0-9]+)(\.([0-9]+))? ]]; then
    if [ "${BASH_REMATCH[1]}" = "1" ] && [ -n "${BASH_REMATCH[3]}" ]; then
      printf '%s' "${BASH_REMATCH[3]}"
    else
      printf '%s' "${BASH_REMATCH[1]}"
    fi
  fi
}

java_ok() {
  command -v java >/dev/null 2>&1 || return 1
  local out
  out="$(java -version 2>&1)" || return 1
  out="${out%%$'\n'*}"
  [ "$(major_version "${out#*version}")" -ge "$min_java" ] 2>/dev/null
}

node_ok() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || return 1
  [ "$(major_version "$(node --version)")" -ge "$min_node" ] 2>/dev/null
}

newer_than_manifests() {
  [ -f "$1" ] && [ "$1" -nt "$here/package-lock.json" ] && [ "$1" -nt "$here/package.json" ]
}

# modules_ok: node_modules was installed after the last change of the lock
# file (npm records each install in node_modules/.package-lock.json).
modules_ok() {
  newer_than_manifests "$stamp" || newer_than_manifests "$here/node_modules/.package-lock.json"
}

# stamped: everything was verified after the last change of the lock file.
stamped() {
  newer_than_manifests "$stamp" &&
    command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1 && command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1
}

# as_root runs a command as root: directly, or through sudo when available.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    if [ "$interactive" -eq 1 ]; then
      sudo "$@"
    else
      sudo -n "$@"
    fi
  else
    die "need root to run: $* (install sudo, or run this script as root)"
  fi
}

apt_updated=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 ||
    die "apt-get not found: install $* with your system's package manager (Java >= $min_java, Node.js >= $min_node with npm)"
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
    apt_updated=1
  fi
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" </dev/null
}

# DynamoDB Local has no listen-address option; infra/local/LoopbackDynamoDBLocal.java
# binds it to loopback and needs javac (compiled once, into .local/). Without one it
# refuses to start unless GANCHO_DYNAMODB_ALL_INTERFACES=true lets it listen on every interface.
ensure_java() {
  java_ok && command -v javac >/dev/null 2>&1 && return 0
  if ! command -v apt-get >/dev/null 2>&1 && java_ok; then
    log "warning: no javac: DynamoDB Local cannot be kept on loopback (install a JDK >= $min_java, or set GANCHO_DYNAMODB_ALL_INTERFACES=true)"
    return 0
  fi
  apt_install openjdk-17-jdk-headless
  java_ok || die "java >= $min_java still not found on PATH after installing openjdk-17-jdk-headless"
}

ensure_node() {
  node_ok && return 0
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
  fi
  node_ok || die "Node.js >= $min_node with npm is required (found: $(node --version 2>/dev/null || echo none)); install a newer Node.js and run this script again"
}

ensure_modules() {
  modules_ok && return 0
  log "npm ci in $here"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error </dev/null)
}

# The tests check Gancho's ed25519 (v1a) signatures with an independent
# implementation, Python's cryptography package.
python_crypto_ok() {
  local py
  for py in python3 /usr/bin/python3; do
    "$py" -c 'import cryptography.hazmat.primitives.asymmetric.ed25519' >/dev/null 2>&1 && return 0
  done
  return 1
}

ensure_python_crypto() {
  python_crypto_ok && return 0
  apt_install python3 python3-cryptography
  python_crypto_ok || die "python3 with the cryptography package still not found after installing python3-cryptography"
}

main() {
  stamped && python_crypto_ok && exit 0
  ensure_java
  ensure_node
  ensure_python_crypto
  ensure_modules
  touch "$stamp"
  log "local emulator dependencies are installed"
}

main "$@"
