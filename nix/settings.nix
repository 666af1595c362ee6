# How the options of services.flywheel-cache (nix/module.nix) become the daemon's configuration.
#
# Pure Nix, builtins only (no nixpkgs, no lib), so it can be evaluated on its own:
#   nix-instantiate --eval --strict --json -E '(import ./nix/settings.nix).envNames'
# tests/Flywheel.Cache.IntegrationTests/Nix/NixFilesTests.cs does exactly that and compares the result with
# Flywheel.Cache.Server.ConfigKeys.All; module.nix takes every FLYWHEEL_* name from here and spells none itself.
#
# The daemon reads ASP.NET Core configuration from FLYWHEEL_-prefixed environment variables: the key with
# ":" written as "__" (`Limits:MaxNarInfoBytes` -> FLYWHEEL_LIMITS__MAXNARINFOBYTES; keys are case-insensitive).
let
  lowerChars = [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];
  upperChars = [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ];

  envName = key: "FLYWHEEL_" + builtins.replaceStrings ([ ":" ] ++ lowerChars) ([ "__" ] ++ upperChars) key;

  # Environment values are strings; booleans as .NET parses them.
  toValue = value: if builtins.isBool value then (if value then "true" else "false") else toString value;

  onlyIf = condition: value: if condition then value else null;
  s3 = cfg: value: onlyIf (cfg.storage == "s3") value;

  # Configuration key (as in src/Flywheel.Cache.Server/ConfigKeys.cs) -> its value taken from the module's
  # config (`cfg` = config.services.flywheel-cache); null leaves the key unset, i.e. the daemon's default.
  settings = {
    "Http" = cfg: cfg.http;
    "Grpc" = cfg: cfg.grpc;
    "Data" = cfg: cfg.dataDir;
    "Storage" = cfg: cfg.storage;
    "Index" = cfg: cfg.index;
    "PublicUrl" = cfg: cfg.publicUrl;
    "Limits:MaxNarInfoBytes" = cfg: cfg.limits.maxNarInfoBytes;
    "Limits:MaxNarBytes" = cfg: cfg.limits.maxNarBytes;
    "Limits:MaxLogBytes" = cfg: cfg.limits.maxLogBytes;
    "Api:MaxBodyBytes" = cfg: cfg.api.maxBodyBytes;
    "NarInfoCache:MaxBytes" = cfg: cfg.narInfoCache.maxBytes;
    "NarInfoCache:Ttl" = cfg: cfg.narInfoCache.ttl;
    "NarInfoCache:NegativeTtl" = cfg: cfg.narInfoCache.negativeTtl;
    "Bazel:DefaultInstance" = cfg: cfg.bazel.defaultInstance;
    "Gc:Interval" = cfg: cfg.gc.interval;
    "Gc:OrphanGrace" = cfg: cfg.gc.orphanGrace;
    "Disk:SyncInterval" = cfg: cfg.disk.syncInterval;
    "Promotion:FlakeHubUrl" = cfg: cfg.promotion.flakeHubUrl;
    "Upstream:NegativeTtl" = cfg: cfg.upstream.negativeTtl;
    "Upstream:BreakDuration" = cfg: cfg.upstream.breakDuration;
    "Builds:Workers" = cfg: cfg.builds.workers;
    "Builds:NixConfDir" = cfg: cfg.builds.nixConfDir;
    "Builds:Lease" = cfg: cfg.builds.lease;
    "Builds:WorkerLiveWindow" = cfg: cfg.builds.workerLiveWindow;
    # S3 blob storage, read only when Storage is s3. The access key pair is not configuration: it comes
    # from the AWS SDK's own AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (the module's s3.credentialsFile).
    "S3:Endpoint" = cfg: s3 cfg cfg.s3.endpoint;
    "S3:Bucket" = cfg: s3 cfg cfg.s3.bucket;
    "S3:Region" = cfg: s3 cfg cfg.s3.region;
    "S3:Prefix" = cfg: s3 cfg cfg.s3.prefix;
    "S3:PathStyle" = cfg: s3 cfg cfg.s3.pathStyle;
    "S3:PresignDownloads" = cfg: s3 cfg cfg.s3.presignDownloads;
  };

  # Keys whose values are secrets. They never go into the unit's Environment= (that would put them in the
  # world-readable Nix store): the module hands the file to systemd with LoadCredential=<credential>:<file>
  # and the start script exports the variable from $CREDENTIALS_DIRECTORY/<credential>.
  secretSettings = {
    "Postgres" = {
      credential = "postgres";
      file = cfg: onlyIf (cfg.index == "postgres") cfg.postgres.connectionStringFile;
    };
  };

  keys = builtins.attrNames settings ++ builtins.attrNames secretSettings;

  # The build lanes (cfg.builds.lanes, a list) become the indexed section Lanes:N:<field> (ConfigKeys.LanesSection and
  # ConfigKeys.LaneKeys): lane field -> its value from one list entry; null leaves the field at the daemon's default.
  # An empty list sets no Lanes:* key at all, which keeps the daemon's default lanes.
  laneSettings = {
    "Name" = lane: lane.name;
    "Cpus" = lane: lane.cpus;
    "MemoryBytes" = lane: lane.memoryBytes;
    "Concurrency" = lane: lane.concurrency;
    "RunnerLabel" = lane: lane.runnerLabel;
  };

  laneEnvironment =
    cfg:
    let
      lanes = cfg.builds.lanes;
      one =
        i:
        let
          lane = builtins.elemAt lanes i;
          set = builtins.filter (field: laneSettings.${field} lane != null) (builtins.attrNames laneSettings);
        in
        map (field: { name = envName "Lanes:${toString i}:${field}"; value = toValue (laneSettings.${field} lane); }) set;
    in
    builtins.listToAttrs (builtins.concatLists (builtins.genList one (builtins.length lanes)));
in
{
  inherit envName keys;

  # The fields of one lane.
  laneKeys = builtins.attrNames laneSettings;

  # Every FLYWHEEL_* variable the module can set.
  envNames = map envName keys;

  # cfg -> { FLYWHEEL_… = "value"; } for the settings that are not secrets and not null, and the lanes.
  environment =
    cfg:
    let
      set = builtins.filter (key: settings.${key} cfg != null) (builtins.attrNames settings);
    in
    builtins.listToAttrs (map (key: { name = envName key; value = toValue (settings.${key} cfg); }) set)
    // laneEnvironment cfg;

  # cfg -> [ { env = "FLYWHEEL_…"; credential = "…"; file = "/run/secrets/…"; } ] for the secrets in use.
  secrets =
    cfg:
    let
      inUse = builtins.filter (key: secretSettings.${key}.file cfg != null) (builtins.attrNames secretSettings);
    in
    map (key: {
      env = envName key;
      inherit (secretSettings.${key}) credential;
      file = toString (secretSettings.${key}.file cfg);
    }) inUse;
}
