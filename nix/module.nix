# NixOS module: services.flywheel-cache runs `flywheel serve` as a hardened systemd service.
#
# Every option reaches the daemon as a FLYWHEEL_* environment variable; the mapping from options to
# configuration keys lives in ./settings.nix (pure, tested against ConfigKeys.cs). Secrets (the PostgreSQL
# connection string, the S3 key pair) are read from files when the service starts and never enter the
# Nix store.
#
# Usage (flake):  imports = [ flywheel.nixosModules.default ];
#                 services.flywheel-cache.enable = true;
{
  config,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.services.flywheel-cache;
  settings = import ./settings.nix;
  inherit (lib) mkEnableOption mkOption types;

  secrets = settings.secrets cfg;

  # "127.0.0.1:8080", "[::]:9092" -> 8080, 9092
  portOf = address: lib.toInt (lib.last (lib.splitString ":" address));
  ports = [ (portOf cfg.http) (portOf cfg.grpc) ];
  # Ports below 1024 need CAP_NET_BIND_SERVICE (and the host's user namespace to use it in).
  lowPorts = lib.any (port: port < 1024) ports;

  stateDirectory =
    if lib.hasPrefix "/var/lib/" cfg.dataDir then lib.removePrefix "/var/lib/" cfg.dataDir else null;

  # Exports each secret from the credential systemd copied for us, then becomes the daemon.
  start = pkgs.writeShellScript "flywheel-cache-start" ''
    set -euo pipefail
    ${lib.concatMapStrings (secret: ''
      ${secret.env}="$(< "$CREDENTIALS_DIRECTORY/${secret.credential}")"
      export ${secret.env}
    '') secrets}
    exec ${lib.getExe cfg.package} serve
  '';

  bytes = description: mkOption {
    type = types.nullOr types.ints.positive;
    default = null;
    example = 1048576;
    description = "${description}, in bytes. `null` keeps the daemon's default.";
  };
in
{
  options.services.flywheel-cache = {
    enable = mkEnableOption "Flywheel.Cache, a Nix binary cache and Bazel remote cache";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = lib.literalExpression "pkgs.callPackage ./nix/package.nix { }";
      description = "The flywheel package to run.";
    };

    http = mkOption {
      type = types.str;
      default = "127.0.0.1:8080";
      example = "[::]:8080";
      description = "Address (host:port) of the HTTP listener: Nix binary cache, Bazel HTTP cache, API and /metrics.";
    };

    grpc = mkOption {
      type = types.str;
      default = "127.0.0.1:9092";
      example = "[::]:9092";
      description = "Address (host:port) of the cleartext HTTP/2 gRPC listener (Bazel REAPI, `grpc://`).";
    };

    dataDir = mkOption {
      type = types.path;
      default = "/var/lib/flywheel-cache";
      description = ''
        Data folder: blobs on disk, the SQLite index, the admin token. Below /var/lib it is the service's
        StateDirectory and created for it; anywhere else it must exist and be writable by the service's
        dynamic user (e.g. via systemd.tmpfiles or a dedicated mount).
      '';
    };

    storage = mkOption {
      type = types.enum [ "disk" "s3" ];
      default = "disk";
      description = "Where blobs are stored: under {option}`dataDir`, or in the S3 bucket of {option}`s3`.";
    };

    index = mkOption {
      type = types.enum [ "sqlite" "postgres" ];
      default = "sqlite";
      description = "Metadata index: SQLite under {option}`dataDir`, or PostgreSQL via {option}`postgres.connectionStringFile`.";
    };

    publicUrl = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "https://cache.example.org";
      description = "The URL clients reach the daemon at (behind a reverse proxy). Defaults to http://<http>.";
    };

    s3 = {
      endpoint = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "https://s3.eu-central-1.amazonaws.com";
        description = "S3 endpoint URL; `null` for AWS's default endpoint of {option}`s3.region`. Set it for MinIO, Garage, R2 …";
      };
      bucket = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "flywheel-cache";
        description = "Bucket holding the blobs. Required when {option}`storage` is `\"s3\"`.";
      };
      region = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "eu-central-1";
        description = "Bucket region; `null` keeps the daemon's default.";
      };
      prefix = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "flywheel/";
        description = "Key prefix for every object, to share a bucket.";
      };
      pathStyle = mkOption {
        type = types.bool;
        default = false;
        description = "Use path-style addressing (endpoint/bucket/key), as most self-hosted S3 servers need.";
      };
      presignDownloads = mkOption {
        type = types.bool;
        default = false;
        description = "Answer NAR downloads with a redirect to a presigned S3 URL. Only when every client can reach the object store.";
      };
      credentialsFile = mkOption {
        type = types.nullOr types.path;
        default = null;
        example = "/run/secrets/flywheel-s3.env";
        description = ''
          Environment file (systemd EnvironmentFile=) with `AWS_ACCESS_KEY_ID=…` and
          `AWS_SECRET_ACCESS_KEY=…`. Read by systemd at start; keep it out of the Nix store
          (use a string path such as "/run/secrets/…", not a Nix path literal). `null` leaves the AWS SDK
          to its other sources (instance profile, web identity …).
        '';
      };
    };

    postgres.connectionStringFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = "/run/secrets/flywheel-postgres";
      description = ''
        File holding the Npgsql connection string (e.g. `Host=/run/postgresql;Database=flywheel;Username=flywheel`),
        required when {option}`index` is `"postgres"`. Passed with LoadCredential=, so it can be owned by root
        with mode 0400; keep it out of the Nix store (a string path, not a Nix path literal).
      '';
    };

    limits = {
      maxNarInfoBytes = bytes "Largest narinfo body accepted";
      maxNarBytes = bytes "Largest (compressed) NAR accepted";
      maxLogBytes = bytes "Largest build log or listing accepted";
    };

    api = {
      maxBodyBytes = bytes "Largest JSON body a /_api/v1 route reads (larger bodies get 413; default 1 MiB)";
    };

    narInfoCache = {
      maxBytes = bytes "Memory for rendered narinfos kept in front of the index";
      ttl = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "00:05:00";
        description = "How long a found narinfo is kept in memory, as a .NET TimeSpan (hh:mm:ss): the longest a change made through another replica (or by garbage collection) goes unseen here; `\"0\"` turns the memory cache off. `null` keeps the daemon's default (5 minutes).";
      };
      negativeTtl = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "00:00:02";
        description = "How long a narinfo miss is remembered, as a .NET TimeSpan (hh:mm:ss); `\"0\"` turns it off. `null` keeps the daemon's default.";
      };
    };

    disk.syncInterval = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "00:00:00.2";
      description = "How often the disk store fsyncs the uploads it acknowledged since the last round, as a .NET TimeSpan; a machine crash loses at most that interval's uploads (they are pushed again). `null` keeps the daemon's default (200 ms).";
    };

    gc = {
      interval = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "01:00:00";
        description = "How often garbage collection runs (one gateway at a time), as a .NET TimeSpan; `\"0\"` turns it off. `null` keeps the daemon's default (1 h).";
      };
      orphanGrace = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "06:00:00";
        description = "How old a stored blob the index does not know must be before it is removed; longer than any upload. `null` keeps the daemon's default (6 h).";
      };
    };

    upstream = {
      negativeTtl = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "00:00:30";
        description = "How long \"no upstream has this narinfo\" is remembered, as a .NET TimeSpan; `\"0\"` turns it off. Upstream errors are never remembered as misses. `null` keeps the daemon's default (30 s).";
      };
      breakDuration = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "00:00:30";
        description = "How long an upstream that keeps failing is skipped (its circuit is open) before it is tried again, as a .NET TimeSpan. `null` keeps the daemon's default (30 s).";
      };
    };

    builds = {
      workers = mkOption {
        type = types.nullOr types.ints.unsigned;
        default = null;
        example = 1;
        description = "How many in-process Nix build workers run (each on every lane). `null` keeps the daemon's default: one per lane on the embedded SQLite index, none with PostgreSQL (builds wait for `flywheel worker` processes).";
      };
      nixConfDir = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "NIX_CONF_DIR for the in-process build workers. `null`: the machine's nix.conf.";
      };
      lanes = mkOption {
        type = types.listOf (
          types.submodule {
            options = {
              name = mkOption {
                type = types.str;
                description = "The lane's name, as builds and `flywheel worker --lane` name it.";
              };
              memoryBytes = mkOption {
                type = types.ints.positive;
                description = "The memory envelope of the lane's builds (a cgroup limit where one can be made), in bytes.";
              };
              cpus = mkOption {
                type = types.nullOr types.ints.positive;
                default = null;
                description = "The CPUs of the lane's runner pods. `null` keeps the daemon's default (1).";
              };
              concurrency = mkOption {
                type = types.nullOr types.ints.positive;
                default = null;
                description = "How many builds of the lane one worker runs at once. `null` keeps the daemon's default (1).";
              };
              runnerLabel = mkOption {
                type = types.nullOr types.str;
                default = null;
                description = "The runner label the lane corresponds to. `null`: the lane's name.";
              };
            };
          }
        );
        default = [ ];
        example = [
          { name = "tinyland-nix"; cpus = 4; memoryBytes = 8589934592; }
          { name = "tinyland-nix-heavy"; cpus = 8; memoryBytes = 17179869184; }
        ];
        description = "The build lanes; a build killed for memory is retried once on the next larger one. `[ ]` keeps the daemon's default lanes: tinyland-nix (4 CPU, 8 GiB) and tinyland-nix-heavy (8 CPU, 16 GiB).";
      };
      lease = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "00:01:00";
        description = "How long a build worker holds a build without renewing, as a .NET TimeSpan; it renews every third of that, and a build whose worker died is taken again once its lease ends. `null` keeps the daemon's default (1 min).";
      };
      workerLiveWindow = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "00:00:10";
        description = "How recently a build worker must have polled to count as serving its lanes (`GET /_api/v1/lanes`, and the warning of `flywheel build` when none does), as a .NET TimeSpan. `null` keeps the daemon's default (10 s).";
      };
    };

    bazel = {
      defaultInstance = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "main";
        description = "The cache that serves Bazel clients naming no instance (no --remote_instance_name, no path prefix). `null` keeps the daemon's default, `main`.";
      };
    };

    promotion = {
      flakeHubUrl = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "https://api.flakehub.com/";
        description = "Base URL of the FlakeHub API that clean derivations are published through. `null` keeps the daemon's default, `https://api.flakehub.com/`.";
      };
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the TCP ports of {option}`http` and {option}`grpc` in the firewall.";
    };

    extraEnvironment = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = {
        DOTNET_GCHeapHardLimit = "0x40000000";
      };
      description = ''
        More environment variables for the daemon: .NET runtime knobs, or configuration keys this module has
        no option for yet (FLYWHEEL_ + the key, ":" written as "__").
        They override the module's own. Never put secrets here: the values land in the Nix store.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.storage == "s3" -> cfg.s3.bucket != null;
        message = "services.flywheel-cache.s3.bucket must be set when storage is \"s3\".";
      }
      {
        assertion = cfg.index == "postgres" -> cfg.postgres.connectionStringFile != null;
        message = "services.flywheel-cache.postgres.connectionStringFile must be set when index is \"postgres\".";
      }
    ];

    warnings =
      lib.optional (cfg.postgres.connectionStringFile != null && lib.isStorePath cfg.postgres.connectionStringFile)
        "services.flywheel-cache.postgres.connectionStringFile is in the Nix store, which is world-readable."
      ++ lib.optional (cfg.s3.credentialsFile != null && lib.isStorePath cfg.s3.credentialsFile)
        "services.flywheel-cache.s3.credentialsFile is in the Nix store, which is world-readable.";

    systemd.services.flywheel-cache = {
      description = "Flywheel.Cache (Nix binary cache and Bazel remote cache)";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network-online.target" ]
        ++ lib.optional (cfg.index == "postgres" && config.services.postgresql.enable) "postgresql.service";

      environment = settings.environment cfg // {
        DOTNET_CLI_TELEMETRY_OPTOUT = "1";
      } // cfg.extraEnvironment;

      serviceConfig = {
        Type = "exec";
        ExecStart = start;
        Restart = "on-failure";
        RestartSec = 5;

        DynamicUser = true;
        StateDirectory = lib.mkIf (stateDirectory != null) stateDirectory;
        StateDirectoryMode = "0700";
        ReadWritePaths = lib.mkIf (stateDirectory == null) [ cfg.dataDir ];
        WorkingDirectory = cfg.dataDir;
        UMask = "0077";

        LoadCredential = map (secret: "${secret.credential}:${secret.file}") secrets;
        # toString: a Nix path literal must not be copied into the store.
        EnvironmentFile = lib.mkIf (cfg.storage == "s3" && cfg.s3.credentialsFile != null) (toString cfg.s3.credentialsFile);

        # Hardening. No MemoryDenyWriteExecute: the .NET JIT needs writable+executable memory.
        CapabilityBoundingSet = if lowPorts then [ "CAP_NET_BIND_SERVICE" ] else "";
        AmbientCapabilities = if lowPorts then [ "CAP_NET_BIND_SERVICE" ] else "";
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        PrivateUsers = !lowPorts;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectKernelLogs = true;
        ProtectKernelModules = true;
        ProtectKernelTunables = true;
        ProtectControlGroups = true;
        ProtectProc = "invisible";
        RestrictAddressFamilies = [ "AF_INET" "AF_INET6" "AF_UNIX" ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        LockPersonality = true;
        RemoveIPC = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [ "@system-service" "~@privileged" ];
        SystemCallErrorNumber = "EPERM";
        LimitNOFILE = 65536;
      };
    };

    networking.firewall.allowedTCPPorts = lib.mkIf cfg.openFirewall ports;
  };
}
