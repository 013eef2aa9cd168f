#!/usr/bin/env bash
# The house rules CI keeps (make guards, run by make test): static
# analysis, a tidy go.mod, the layering (sdk imports nothing of core;
# plugins import only sdk and their own internal packages), no tracked
# file over 1 MiB (build output stays out of git), and every fuzz target
# run briefly on top of its committed corpus. Each failure says what to do.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZ_GUARD_TIME=${FUZZ_GUARD_TIME:-10s}
module=$($GO list -m)
status=0
fail() { echo "guards: $*" >&2; status=1; }

# Static analysis: staticcheck at a pinned version, installed once.
STATICCHECK_VERSION=v0.8.2
sc=$($GO env GOPATH)/bin/staticcheck
if ! "$sc" -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
  GOFLAGS= $GO install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
"$sc" ./... || fail "staticcheck found the problems above; fix them (a guard that fails is fixed, not silenced)"

$GO mod tidy -diff >/dev/null || fail "go.mod or go.sum is not tidy: run go mod tidy and commit the result"

# Layering: sdk is what third parties build on, plugins see only sdk.
while read -r pkg imports; do
  for imp in $imports; do
    case "$imp" in
      "$module"/core/*) fail "$pkg imports $imp: sdk must not depend on core" ;;
    esac
  done
done < <($GO list -f '{{.ImportPath}} {{join .Imports " "}}' ./sdk/...)
while read -r pkg imports; do
  for imp in $imports; do
    case "$imp" in
      "$module"/sdk | "$module"/sdk/* | "$module"/plugins/*) ;;
      "$module"/*) fail "$pkg imports $imp: plugins may import only sdk (and plugins/internal)" ;;
    esac
  done
done < <($GO list -f '{{.ImportPath}} {{join .Imports " "}}' ./plugins/...)

# Nothing big in git: build output and data files stay out.
while IFS= read -r -d '' f; do
  if [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt 1048576 ]; then
    fail "$f is tracked and over 1 MiB: build output does not go in git (git rm --cached it, add it to .gitignore)"
  fi
done < <(git ls-files -z)

# Every fuzz target, briefly, after its committed corpus.
for pkg in $($GO list ./...); do
  dir=$($GO list -f '{{.Dir}}' "$pkg")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    echo "guards: fuzzing $pkg $target for $FUZZ_GUARD_TIME"
    fuzz() { $GO test "$pkg" -run '^$' -fuzz "^$target\$" -fuzztime "$FUZZ_GUARD_TIME" -fuzzminimizetime 1s >/tmp/guards-fuzz.$$ 2>&1; }
    if ! fuzz; then
      # Go's fuzzing coordinator can end a run at -fuzztime with "context
      # deadline exceeded" and no failing input (a worker slow to answer
      # on a loaded machine). That alone is run again once; a real failure
      # names and keeps its input, and fails.
      if grep -q 'context deadline exceeded' /tmp/guards-fuzz.$$ && ! grep -q 'Failing input written\|testdata/fuzz/' /tmp/guards-fuzz.$$; then
        echo "guards: $target ended with the fuzzer's own deadline and no input; running it again"
        fuzz || { cat /tmp/guards-fuzz.$$ >&2; fail "$target in $pkg failed twice (see above)"; }
      else
        cat /tmp/guards-fuzz.$$ >&2
        fail "$target in $pkg found a failing input (kept in testdata/fuzz): fix the code, keep the input"
      fi
    fi
  done
done
rm -f /tmp/guards-fuzz.$$
exit $status
