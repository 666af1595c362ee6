{
  description = "Flywheel.Cache: a Nix binary cache and Bazel remote cache (HTTP and REAPI gRPC) in one daemon";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      packages = forAllSystems (pkgs: rec {
        flywheel = pkgs.callPackage ./nix/package.nix { };
        default = flywheel;
        image = pkgs.callPackage ./nix/image.nix { inherit flywheel; };
      });

      # services.flywheel-cache; runs this flake's build unless `package` is set.
      nixosModules.default =
        { pkgs, ... }:
        {
          imports = [ ./nix/module.nix ];
          services.flywheel-cache.package =
            lib.mkDefault self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = with pkgs; [
            dotnetCorePackages.sdk_10_0
            nix
            bazel
            postgresql
            nginx
            skopeo
            distribution # the OCI registry (docker-distribution), for publisher tests
            nodejs # runs s3rver, the S3 stand-in of the integration tests
            zstd
            xz
            bzip2
            brotli
            wrk
            nghttp2 # h2load
            jq
            openssl # nix/update-deps.sh
          ];
          # The daemon P/Invokes liblzma and libbz2 by soname (zstd is managed: ZstdSharp).
          LD_LIBRARY_PATH = lib.makeLibraryPath (
            with pkgs;
            [
              xz
              bzip2
            ]
          );
          DOTNET_CLI_TELEMETRY_OPTOUT = "1";
          DOTNET_NOLOGO = "1";
        };
      });

      checks = forAllSystems (pkgs: {
        package = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        image = self.packages.${pkgs.stdenv.hostPlatform.system}.image;
        # The NixOS module evaluates: options type-check and the unit renders (no VM is started).
        module =
          let
            nixos = nixpkgs.lib.nixosSystem {
              modules = [
                self.nixosModules.default
                {
                  nixpkgs.hostPlatform = pkgs.stdenv.hostPlatform.system;
                  boot.loader.grub.enable = false;
                  fileSystems."/" = {
                    device = "none";
                    fsType = "tmpfs";
                  };
                  system.stateVersion = "25.11";
                  services.flywheel-cache = {
                    enable = true;
                    index = "postgres";
                    postgres.connectionStringFile = "/run/secrets/flywheel-postgres";
                    openFirewall = true;
                  };
                }
              ];
            };
          in
          pkgs.writeText "flywheel-cache.service" nixos.config.systemd.units."flywheel-cache.service".text;
      });
    };
}
