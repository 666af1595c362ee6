#!/usr/bin/env bash
# Regenerates nix/deps.json, the NuGet lock file that buildDotnetModule (nix/package.nix) reads
# through `nugetDeps`. Run it from anywhere after any PackageReference or Directory.Packages.props
# change -- more packages will be added to the solution over time and this script is how deps.json
# is kept in step with them:
#
#   nix/update-deps.sh            # writes nix/deps.json
#   nix/update-deps.sh -          # prints to stdout instead
#
# It does what nixpkgs' nuget-to-json (pkgs/by-name/nu/nuget-to-json) does for `passthru.fetch-deps`,
# without needing a Nix build: restore the solution into an empty packages folder, once per runtime
# the flake builds for (buildDotnetModule restores with `--runtime <rid>`, which can pull in
# RID-specific packages), then emit one { pname, version, hash } per restored .nupkg:
#   - pname is the <id> from the package's .nuspec (original casing), version is the folder name;
#   - hash is the SRI sha256 of the .nupkg file exactly as downloaded;
#   - packages restored from a local folder, and the runtime/host packs the Nix SDK ships, are skipped,
#     as nuget-to-json does (there they come from a Nix-store source);
#   - entries are sorted by package folder name (lower-case id) and version, in C collation;
#   - a "url" is added only for packages that did not come from nuget.org (none do today; the
#     script refuses such packages rather than guess their download URL).
# Requires: dotnet (the SDK from global.json), jq, openssl.
set -euo pipefail
shopt -s nullglob
export LC_ALL=C DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
out=${1:-$here/deps.json}
# Runtimes of the systems in flake.nix (x86_64-linux, aarch64-linux). Override with e.g.
# RIDS=linux-x64 when the NuGet source at hand lacks the other runtime's packs (restore then fails
# with NU1101 on Microsoft.NETCore.App.Runtime.<rid>, even though those packs are excluded below).
read -r -a rids <<<"${RIDS:-linux-x64 linux-arm64}"

tmp=$(mktemp -d -t flywheel-deps.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pkgs=$tmp/packages

# Restore a copy of the sources so the worktree's obj/ folders (restored for the host, no RID) stay as
# `dotnet build` left them.
mkdir "$tmp/src"
tar -C "$root" --exclude=./.git --exclude='*/bin' --exclude='*/obj' -cf - . | tar -C "$tmp/src" -xf -

dotnet restore "$tmp/src/Flywheel.Cache.sln" --packages "$pkgs" -p:ContinuousIntegrationBuild=true >&2
for rid in "${rids[@]}"; do
    dotnet restore "$tmp/src/Flywheel.Cache.sln" --packages "$pkgs" --runtime "$rid" \
        -p:ContinuousIntegrationBuild=true >&2
done

nuget_org=https://api.nuget.org/v3/index.json
{
    # Glob without a trailing slash so "foo" sorts before "foo.bar", as in nuget-to-json.
    for dir in "$pkgs"/*; do
        [[ -d $dir ]] || continue
        package=$(basename "$dir")
        case $package in
            # Runtime, host and AOT packs: nixpkgs' dotnet-sdk supplies these (dotnet-sdk.targetPackages)
            # from the Nix store, so nuget-to-json never lists them.
            microsoft.netcore.app.runtime.* | microsoft.netcore.app.host.* | microsoft.netcore.app.crossgen2.* | \
                microsoft.aspnetcore.app.runtime.* | microsoft.dotnet.ilcompiler | runtime.*.microsoft.dotnet.ilcompiler | \
                runtime.*.microsoft.netcore.dotnetapphost)
                continue ;;
        esac
        for vdir in "$dir"/*; do
            [[ -d $vdir ]] || continue
            version=$(basename "$vdir")
            vdir=$vdir/
            nupkg=$vdir$package.$version.nupkg
            [[ -f $nupkg ]] || continue
            source=$(jq -r 'if has("source") then .source elif has("contentHash") then "__unknown" else "" end' \
                "$vdir.nupkg.metadata")
            if [[ -z $source || -d $source ]]; then
                continue # local/SDK-provided package: nothing to fetch
            fi
            if [[ $source != "$nuget_org" ]]; then
                echo "$package $version was restored from $source, not nuget.org; add its \"url\" by hand" >&2
                exit 1
            fi
            nuspec=("$vdir"*.nuspec)
            id=$(sed -n 's:.*<id>[[:space:]]*\([^<[:space:]]*\)[[:space:]]*</id>.*:\1:p' "${nuspec[0]}" | head -n1)
            hash="sha256-$(openssl dgst -sha256 -binary "$nupkg" | base64 -w0)"
            jq -n --arg pname "$id" --arg version "$version" --arg hash "$hash" \
                '{ pname: $pname, version: $version, hash: $hash }'
        done
    done
} | jq -s . >"$tmp/deps.json"

if [[ $out == - ]]; then
    cat "$tmp/deps.json"
else
    mv "$tmp/deps.json" "$out"
    echo "wrote $(jq length "$out") packages to $out" >&2
fi
