# Sourced by scripts/test.sh, bench/load/run.sh and bench/bazel/run.sh: the Debian packages and the s3rver they need, in one place,
# installed when missing (safe to run again: installed things are skipped).

# Real components the tests drive. CI has nothing installed by hand.
TEST_DEBIAN_PACKAGES=(nix-bin bazel-bootstrap postgresql nginx xz-utils zstd bzip2 brotli liblzma5 libbz2-1.0 docker-registry skopeo chromium)
# The side-by-side load run: load generator, the reference server, Nix for content, tools the script calls.
BENCH_DEBIAN_PACKAGES=(wrk nginx nix-bin curl python3 util-linux)
# The load run's production backend: PostgreSQL started the way the tests start it (and s3rver, below).
BENCH_PRODUCTION_DEBIAN_PACKAGES=(postgresql)
# The Bazel rebuild benchmark (bench/bazel/run.sh): real Bazel 4.2.3 and the tools the script calls.
BENCH_BAZEL_DEBIAN_PACKAGES=(bazel-bootstrap curl python3 tcpdump nginx)

# s3rver, the S3 stand-in (for RustFS/MinIO) the S3 blob store tests and the production load run use.
S3RVER_VERSION=3.7.1

# ensure_debian_packages <who> <package>...: apt-get installs the ones dpkg does not list as installed.
ensure_debian_packages() {
  local who="$1" p missing=()
  shift
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "$who: installing ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
  fi
}

# ensure_s3rver <who> <repository root>: s3rver in <root>/.test-env/s3rver; exports FLYWHEEL_TEST_S3RVER.
ensure_s3rver() {
  local who="$1" dir="$2/.test-env/s3rver"
  if [ "$(node -p "try{require('$dir/node_modules/s3rver/package.json').version}catch(e){''}" 2>/dev/null)" != "$S3RVER_VERSION" ]; then
    echo "$who: installing s3rver@$S3RVER_VERSION into $dir"
    npm install --no-save --no-audit --no-fund --prefix "$dir" "s3rver@$S3RVER_VERSION" </dev/null
  fi
  export FLYWHEEL_TEST_S3RVER="$dir/node_modules/s3rver/bin/s3rver.js"
}
