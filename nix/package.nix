{
  lib,
  buildDotnetModule,
  dotnetCorePackages,
  xz,
  bzip2,
  version ? "0.1.0",
}:

buildDotnetModule {
  pname = "flywheel-cache";
  inherit version;

  # Only what the build reads, so editing flake.nix, nix/, tests or docs does not rebuild the daemon.
  # (From the flake, the tree is already limited to git-tracked files, so no stray bin/ or obj/.)
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../global.json
      ../Directory.Build.props
      ../Directory.Packages.props
      ../.editorconfig
      ../src
    ];
  };

  projectFile = "src/Flywheel.Cache.Server/Flywheel.Cache.Server.csproj";
  # Lock file of every NuGet package (pname, version, SRI hash). Regenerate with nix/update-deps.sh
  # after changing a PackageReference or Directory.Packages.props.
  nugetDeps = ./deps.json;

  dotnet-sdk = dotnetCorePackages.sdk_10_0;
  # The server is a Microsoft.NET.Sdk.Web project: it needs the ASP.NET Core shared framework.
  dotnet-runtime = dotnetCorePackages.aspnetcore_10_0;

  # buildDotnetModule already passes -p:Version from `version` and --runtime for the host; these go to restore, build
  # and publish. PublishReadyToRun: what is installed is ReadyToRun code (crossgen2), as `dotnet publish` of the
  # project makes it anyway, so `flywheel push` and the other CLI commands start without JIT-compiling first. It must
  # be set at restore too (the publish here runs --no-build against that restore); the Crossgen2 pack comes from the
  # Nix SDK's own packages (nix/update-deps.sh leaves it out of deps.json, as nuget-to-json does).
  dotnetFlags = [
    "-p:ContinuousIntegrationBuild=true"
    "-p:PublishReadyToRun=true"
  ];

  # AssemblyName is `flywheel`; only that apphost goes to $out/bin.
  executables = [ "flywheel" ];

  # The daemon P/Invokes liblzma.so.5 and libbz2.so.1.0 by soname; the wrapper puts these on
  # LD_LIBRARY_PATH. zstd is managed code (ZstdSharp.Port), nothing native.
  runtimeDeps = [
    xz
    bzip2
  ];

  meta = {
    description = "Nix binary cache and Bazel remote cache (HTTP and REAPI gRPC) in one daemon";
    mainProgram = "flywheel";
    platforms = [
      "x86_64-linux"
      "aarch64-linux"
    ];
  };
}
