#!/usr/bin/env bash
# fuzz.sh runs every fuzz target of the module, one after the other, for
# FUZZTIME each, then prints each target's executions and their total. It
# fails when any target failed (a crasher, written to the package's
# testdata/fuzz/<Target>/, or a build error), after running all of them.
#
# Targets are what `go test -list '^Fuzz'` lists, in the packages whose
# _test.go files declare a func Fuzz..., so a new target is picked up
# without editing anything.
#
# Environment: FUZZTIME (default 30s; a duration, or Nx for N executions),
# FUZZMINIMIZETIME (default 2s: how long a new input is minimized; the
# default of go test, 60s, stalls a short run), FUZZPARALLEL (workers per
# target; default go test's, GOMAXPROCS), PKGS (default ./...), GO (go).
set -euo pipefail

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
FUZZMINIMIZETIME=${FUZZMINIMIZETIME:-2s}
PKGS=${PKGS:-./...}

# Packages that may hold fuzz targets: those with a func Fuzz in a test file.
mapfile -t pkgs < <($GO list -f '{{.ImportPath}} {{.Dir}}' $PKGS | while read -r pkg dir; do
	if grep -qs '^func Fuzz' "$dir"/*_test.go; then echo "$pkg"; fi
done)
if [ ${#pkgs[@]} -eq 0 ]; then
	echo "fuzz: no fuzz targets in $PKGS" >&2
	exit 1
fi

# "package target" pairs, from go test -list (a build error stops here).
listing=$($GO test -list '^Fuzz' "${pkgs[@]}")
mapfile -t targets < <(awk '
	/^Fuzz/ { names[++n] = $1; next }
	/^ok[ \t]/ { for (i = 1; i <= n; i++) print $2, names[i]; n = 0 }' <<<"$listing")

parallel=()
if [ -n "${FUZZPARALLEL:-}" ]; then parallel=(-parallel "$FUZZPARALLEL"); fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
total=0
failed=()
summary=()
for t in "${targets[@]}"; do
	pkg=${t% *}
	name=${t#* }
	echo "=== fuzz $name ($pkg) for $FUZZTIME"
	status=ok
	if ! $GO test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINIMIZETIME" \
		"${parallel[@]}" "$pkg" 2>&1 | tee "$log"; then
		status=FAIL
		failed+=("$name ($pkg)")
	fi
	# The last progress line holds the run's executions.
	execs=$(grep -o 'execs: [0-9]*' "$log" | tail -n 1 | awk '{print $2}' || true)
	execs=${execs:-0}
	total=$((total + execs))
	summary+=("$(printf '%-20s %-52s %12d  %s' "$name" "$pkg" "$execs" "$status")")
done

echo
printf '%-20s %-52s %12s  %s\n' TARGET PACKAGE EXECS RESULT
printf '%s\n' "${summary[@]}"
echo "fuzz: ${#targets[@]} targets, $total executions in total (FUZZTIME=$FUZZTIME each)"
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: FAILED (see testdata/fuzz/ in the package for the input): ${failed[*]}" >&2
	exit 1
fi
