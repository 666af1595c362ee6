#!/usr/bin/env bash
# Installs what the tests need (Debian packages, s3rver), then builds and runs every test.
# This is the README's test command and what .ci/run calls. Safe to run again: installed things are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real components the tests drive, and s3rver (the package lists live in scripts/deps.sh).
source scripts/deps.sh
ensure_debian_packages test.sh "${TEST_DEBIAN_PACKAGES[@]}"
ensure_s3rver test.sh "$PWD"

results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT

dotnet build Flywheel.Cache.sln -c Release --nologo -v quiet
dotnet format Flywheel.Cache.sln --verify-no-changes --no-restore
status=0
dotnet test Flywheel.Cache.sln -c Release --no-build --nologo \
  --logger "trx" --logger "console;verbosity=normal" --results-directory "$results" </dev/null || status=$?

# One summary line over every test project: 'N passed, N failed, N skipped'.
python3 - "$results" <<'PY' || true
import glob, sys, xml.etree.ElementTree as ET
p = f = s = 0
for path in glob.glob(sys.argv[1] + "/*.trx"):
    c = ET.parse(path).getroot().find(".//{*}Counters")
    if c is None: continue
    p += int(c.get("passed", 0)); f += int(c.get("failed", 0)) + int(c.get("error", 0)) + int(c.get("timeout", 0))
    s += int(c.get("notExecuted", 0))
print(f"tests: {p} passed, {f} failed, {s} skipped")
PY
exit $status
