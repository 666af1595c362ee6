namespace Flywheel.Cache.Server;

/// <summary>
/// Every configuration key the daemon reads. Each is settable in appsettings.json, as an environment
/// variable (<c>FLYWHEEL_</c> + the key with <c>:</c> written as <c>__</c>, e.g. <c>FLYWHEEL_LIMITS__MAXNARINFOBYTES</c>)
/// and, where a flag is listed, on the command line of <c>flywheel serve</c>.
/// The NixOS module in nix/module.nix sets these keys; a test checks both lists agree.
/// </summary>
public static class ConfigKeys
{
    public const string EnvironmentPrefix = "FLYWHEEL_";

    /// <summary>HTTP listen address (Nix cache, Bazel HTTP cache, API, metrics). Flag --http.</summary>
    public const string Http = "Http";

    /// <summary>gRPC (REAPI) listen address, cleartext HTTP/2. Flag --grpc.</summary>
    public const string Grpc = "Grpc";

    /// <summary>Data folder of the embedded default (blobs, SQLite index, admin token). Flag --data.</summary>
    public const string Data = "Data";

    /// <summary>Blob storage: disk (default) or s3 (S3-compatible; credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). Flag --storage.</summary>
    public const string Storage = "Storage";

    /// <summary>Metadata index: sqlite (default) or postgres. Flag --index.</summary>
    public const string Index = "Index";

    /// <summary>The URL clients reach the daemon at, printed at start; defaults to http://&lt;Http&gt;. Flag --public-url.</summary>
    public const string PublicUrl = "PublicUrl";

    /// <summary>Largest narinfo body accepted, bytes.</summary>
    public const string MaxNarInfoBytes = "Limits:MaxNarInfoBytes";

    /// <summary>Largest NAR (compressed) accepted, bytes.</summary>
    public const string MaxNarBytes = "Limits:MaxNarBytes";

    /// <summary>Largest build log or listing accepted, bytes.</summary>
    public const string MaxLogBytes = "Limits:MaxLogBytes";

    /// <summary>Largest JSON body a <c>/_api/v1</c> route reads, bytes (default 1 MiB); larger bodies get 413.</summary>
    public const string ApiMaxBodyBytes = "Api:MaxBodyBytes";

    /// <summary>Memory for rendered narinfos kept in front of the index, bytes.</summary>
    public const string NarInfoCacheBytes = "NarInfoCache:MaxBytes";

    /// <summary>How long a found narinfo is kept in memory, as a TimeSpan (default 00:05:00): the longest another gateway's change (or removal) goes unseen; 0 turns the memory cache off.</summary>
    public const string NarInfoTtl = "NarInfoCache:Ttl";

    /// <summary>How long a narinfo miss is remembered, as a TimeSpan (e.g. 00:00:02); 0 turns it off.</summary>
    public const string NarInfoNegativeTtl = "NarInfoCache:NegativeTtl";

    /// <summary>The Bazel instance used when a client names none (no --remote_instance_name, no path prefix); default main.</summary>
    public const string BazelDefaultInstance = "Bazel:DefaultInstance";

    /// <summary>S3 endpoint URL (RustFS, MinIO); absent for AWS itself. Flag --s3-endpoint.</summary>
    public const string S3Endpoint = "S3:Endpoint";

    /// <summary>S3 bucket. Flag --s3-bucket.</summary>
    public const string S3Bucket = "S3:Bucket";

    /// <summary>S3 region; default us-east-1. Flag --s3-region.</summary>
    public const string S3Region = "S3:Region";

    /// <summary>Key prefix inside the bucket, e.g. flywheel/. Flag --s3-prefix.</summary>
    public const string S3Prefix = "S3:Prefix";

    /// <summary>Path-style addressing (RustFS and MinIO need it): true or false. Flag --s3-path-style.</summary>
    public const string S3PathStyle = "S3:PathStyle";

    /// <summary>Answer NAR GETs with a redirect to a presigned S3 URL (clients must reach the object store); default false.</summary>
    public const string S3PresignDownloads = "S3:PresignDownloads";

    /// <summary>PostgreSQL connection string (a secret: prefer the environment or a file). Flag --postgres.</summary>
    public const string Postgres = "Postgres";

    /// <summary>
    /// How often the disk store's background round fsyncs the blobs acknowledged since the last one, as a TimeSpan
    /// (default 00:00:00.2): a machine crash loses at most the uploads of the last interval (README, "Durability").
    /// </summary>
    public const string DiskSyncInterval = "Disk:SyncInterval";

    /// <summary>How often garbage collection runs, as a TimeSpan (default 01:00:00); 0 turns the periodic run off.</summary>
    public const string GcInterval = "Gc:Interval";

    /// <summary>Age beyond which a stored blob the index does not know is removed (default 06:00:00); longer than any upload.</summary>
    public const string GcOrphanGrace = "Gc:OrphanGrace";

    /// <summary>Base URL of the FlakeHub API clean derivations are published through (default https://api.flakehub.com/).</summary>
    public const string FlakeHubUrl = "Promotion:FlakeHubUrl";
    /// <summary>How long "no upstream has this narinfo" is remembered, as a TimeSpan (default 00:00:30); 0 turns it off.</summary>
    public const string UpstreamNegativeTtl = "Upstream:NegativeTtl";

    /// <summary>How long an upstream that keeps failing is skipped before it is tried again, as a TimeSpan (default 00:00:30).</summary>
    public const string UpstreamBreakDuration = "Upstream:BreakDuration";

    /// <summary>All keys above, for validation and for the test that compares them with the NixOS module.</summary>
    /// <summary>
    /// How many in-process build workers run (each on every lane); unset: one per lane on the embedded SQLite index, none
    /// with PostgreSQL (builds wait for <c>flywheel worker</c> processes).
    /// </summary>
    public const string BuildsWorkers = "Builds:Workers";

    /// <summary>How recently a build worker must have polled to count as serving its lanes, as a TimeSpan (default 00:00:10).</summary>
    public const string BuildsWorkerLiveWindow = "Builds:WorkerLiveWindow";

    /// <summary>NIX_CONF_DIR for the in-process build workers' Nix; default: the machine's.</summary>
    public const string BuildsNixConfDir = "Builds:NixConfDir";

    /// <summary>
    /// How long a worker holds a build it took without renewing, as a TimeSpan (default 00:01:00); it renews every third of
    /// that while the build runs, and a build whose worker died is taken again once its lease ends.
    /// </summary>
    public const string BuildsLease = "Builds:Lease";

    /// <summary>
    /// The build lanes: the indexed section <c>Lanes:N:FIELD</c> for N = 0, 1, … and each field of <see cref="LaneKeys"/>,
    /// read by BuildHosting/BuildOptions; default tinyland-nix (4 CPU, 8 GiB) and tinyland-nix-heavy (8 CPU, 16 GiB).
    /// </summary>
    public const string LanesSection = "Lanes";

    /// <summary>A lane's name (required).</summary>
    public const string LaneName = "Name";

    /// <summary>The CPUs of the lane's runner pods (default 1).</summary>
    public const string LaneCpus = "Cpus";

    /// <summary>The lane's memory envelope in bytes (required).</summary>
    public const string LaneMemoryBytes = "MemoryBytes";

    /// <summary>How many builds of the lane one worker runs at once (default 1).</summary>
    public const string LaneConcurrency = "Concurrency";

    /// <summary>The runner label the lane corresponds to (default: its name).</summary>
    public const string LaneRunnerLabel = "RunnerLabel";

    /// <summary>The fields of one lane, for the test that compares them with the NixOS module.</summary>
    public static readonly IReadOnlyList<string> LaneKeys = [LaneName, LaneCpus, LaneMemoryBytes, LaneConcurrency, LaneRunnerLabel];

    public static readonly IReadOnlyList<string> All =
    [
        Http, Grpc, Data, Storage, Index, PublicUrl,
        MaxNarInfoBytes, MaxNarBytes, MaxLogBytes, ApiMaxBodyBytes,
        NarInfoCacheBytes, NarInfoTtl, NarInfoNegativeTtl,
        BazelDefaultInstance,
        S3Endpoint, S3Bucket, S3Region, S3Prefix, S3PathStyle, S3PresignDownloads, Postgres,
        GcInterval, GcOrphanGrace,
        DiskSyncInterval,
        FlakeHubUrl,
        UpstreamNegativeTtl, UpstreamBreakDuration,
        BuildsWorkers, BuildsNixConfDir, BuildsLease, BuildsWorkerLiveWindow,
    ];
}
