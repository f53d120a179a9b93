#!/usr/bin/env bash
# Runs every Go fuzz target (func FuzzXxx(f *testing.F) in a _test.go file) for
# FUZZTIME each. Fuzzing takes one target of one package per run, so the targets
# are listed from the sources and run one after another. Every target runs
# even when an earlier one fails; a failure leaves its input under the package's
# testdata/fuzz/FuzzXxx/ (commit it with the fix, as a regression seed).
#
#   FUZZTIME=10s infra/fuzz.sh            every target
#   FUZZTIME=1m infra/fuzz.sh FuzzSchema  targets whose name matches a regexp
#   FUZZ_PARALLEL=1 ...                   fuzzing workers per target (default: one per CPU)
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
pattern=${1:-.}

# Schema inputs over the per-input time limit are reported here, not failed on
# (see shared/gancho/schema_fuzz_test.go).
slow=$(mktemp -d)
export GANCHO_FUZZ_SLOW=$slow

targets=$(git ls-files --cached --others --exclude-standard -- '*_test.go' |
  xargs grep -HoE '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' |
  sed -E 's#^(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+).*#\1 \2#' |
  sort -u | awk -v p="$pattern" '$2 ~ p')
if [ -z "$targets" ]; then
  echo "fuzz: no target matches $pattern" >&2
  exit 1
fi

# One instrumented test binary per package (built as `go test -fuzz` builds it),
# run once per target from the package's folder, with go test's own corpus cache.
bin=$(mktemp -d)
trap 'rm -rf "$slow" "$bin"' EXIT
cache=$($GO env GOCACHE)/fuzz
passed=0
failed=()
start=$SECONDS
built=""
while read -r dir fn; do
  exe=$bin/${dir//\//_}.test
  if [ "$built" != "$dir" ]; then
    $GO test -c -fuzz . -o "$exe" "./$dir"
    built=$dir
  fi
  pkg=$($GO list "./$dir")
  echo "fuzz: $fn (./$dir, $FUZZTIME)"
  if ! out=$(cd "$dir" && "$exe" -test.run '^$' -test.fuzz "^$fn\$" -test.fuzztime "$FUZZTIME" \
    -test.fuzzcachedir "$cache/$pkg" ${FUZZ_PARALLEL:+-test.parallel "$FUZZ_PARALLEL"} 2>&1); then
    echo "$out" | grep -vE '^fuzz: elapsed' || true
    failed+=("$fn (./$dir)")
  else
    passed=$((passed + 1))
  fi
done <<<"$targets"

if compgen -G "$slow/*" >/dev/null; then
  echo "fuzz: slow inputs (reported, not failed):"
  cat "$slow"/*
fi
echo "fuzz: $((SECONDS - start)) s"
for f in "${failed[@]}"; do echo "fuzz: FAILED $f"; done
echo "fuzz: ${passed} passed, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
