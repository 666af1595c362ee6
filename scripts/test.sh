#!/usr/bin/env bash
# Installs what the tests need (Debian packages, s3rver), then builds and runs every test.
# This is the README's test command and what .ci/run calls. Safe to run again: installed things are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real components the tests drive. Missing ones are installed here; CI has nothing installed by hand.
DEBIAN_PACKAGES=(nix-bin bazel-bootstrap postgresql nginx xz-utils zstd bzip2 brotli libzstd1 liblzma5 libbz2-1.0 docker-registry skopeo)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
fi

# s3rver, the S3 stand-in (for RustFS/MinIO) the S3 blob store tests run against, in a project-local folder.
S3RVER_VERSION=3.7.1
S3RVER_DIR="$PWD/.test-env/s3rver"
if [ "$(node -p "try{require('$S3RVER_DIR/node_modules/s3rver/package.json').version}catch(e){''}" 2>/dev/null)" != "$S3RVER_VERSION" ]; then
  echo "test.sh: installing s3rver@$S3RVER_VERSION into $S3RVER_DIR"
  npm install --no-save --no-audit --no-fund --prefix "$S3RVER_DIR" "s3rver@$S3RVER_VERSION" </dev/null
fi
export FLYWHEEL_TEST_S3RVER="$S3RVER_DIR/node_modules/s3rver/bin/s3rver.js"

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
