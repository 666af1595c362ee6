#!/usr/bin/env bash
# Regenerates the Nix fixtures in this folder with a real Nix (tested with Nix 2.8, single-user as root).
# Output: a key pair made by Nix, two store paths (one referencing the other) built by Nix, signed by Nix
# with that key, and copied by Nix to file:// binary caches in every compression we support.
# Usage: ./generate.sh   (from anywhere; writes next to itself)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
nixopts=(--extra-experimental-features nix-command --option build-users-group '')

nix "${nixopts[@]}" key generate-secret --key-name test-1 > "$here/test-1.secret"
nix "${nixopts[@]}" key convert-secret-to-public < "$here/test-1.secret" > "$here/test-1.public"

cat > "$work/fixture.nix" <<'NIX'
let
  system = builtins.currentSystem;
  dep = derivation {
    name = "flywheel-fixture-dep-1.0";
    inherit system;
    builder = "/bin/sh";
    args = [ "-c" "echo 'I am a dependency' > $out" ];
  };
in derivation {
  name = "flywheel-fixture-main-1.0";
  inherit system;
  builder = "/bin/sh";
  args = [ "-c" ''
    PATH=/bin:/usr/bin
    mkdir -p $out/bin $out/share
    echo ${dep} > $out/share/dep-path
    echo $out > $out/share/self-path
    printf '#!/bin/sh\necho hello from the fixture\n' > $out/bin/hello
    chmod +x $out/bin/hello
    ln -s ../share/dep-path $out/bin/link
    i=0; while [ $i -lt 200 ]; do echo "line $i of some compressible text" >> $out/share/text; i=$((i+1)); done
  '' ];
}
NIX

main="$(nix-build "${nixopts[@]}" --no-out-link "$work/fixture.nix")"
printf "a content-addressed file\n" > "$work/flywheel-fixture-added.txt"
added="$(nix-store --add "$work/flywheel-fixture-added.txt")"
paths="$(nix-store -qR "$main") $added"
# Start from fresh store paths so earlier runs' signatures (by an earlier key) do not linger.
# shellcheck disable=SC2086
nix-store --delete $(nix-store -q --referrers-closure $paths) >/dev/null 2>&1 || true
main="$(nix-build "${nixopts[@]}" --no-out-link "$work/fixture.nix")"
added="$(nix-store --add "$work/flywheel-fixture-added.txt")"
# shellcheck disable=SC2086
nix "${nixopts[@]}" store sign --key-file "$here/test-1.secret" $paths

for c in none xz zstd bzip2 br; do
  rm -rf "$here/cache-$c"
  # shellcheck disable=SC2086
  nix "${nixopts[@]}" copy --to "file://$here/cache-$c?compression=$c" $paths
  rm -f "$here/cache-$c/nix-cache-info"
  rm -rf "$here/cache-$c/log" "$here/cache-$c/realisations"
done
echo "$main" > "$here/main-path"
echo "fixtures written to $here"
