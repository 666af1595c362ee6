using System.Security.Cryptography;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.IntegrationTests.Infrastructure;

/// <summary>
/// Real Nix (2.8, Debian nix-bin, single-user as root) as a client of a binary cache, isolated per instance:
/// its own NIX_CONF_DIR (the host's /etc/nix/nix.conf is not read), its own narinfo disk cache (XDG_CACHE_HOME),
/// its own TMPDIR, no substituters unless a call names one, require-sigs on.
/// It builds in the real /nix/store (a diverted store such as <c>--store local?root=…</c> forces the sandbox, where
/// <c>/bin/sh</c> does not exist), so every store path it creates carries a random nonce in its name, and
/// <see cref="DeletePathsAsync"/> refuses any path without one of this instance's nonces. Dispose deletes what it created.
/// </summary>
public sealed class NixEnvironment : IDisposable, IAsyncDisposable
{
    public const string StoreDir = "/nix/store";
    private static readonly string[] RequiredTools = ["nix", "nix-store", "nix-build"];

    private readonly HashSet<string> _nonces = [];
    private readonly HashSet<string> _createdPaths = [];
    private readonly Lock _gate = new();
    private int _disposed;

    private NixEnvironment(string root)
    {
        Root = root;
        ConfDir = Path.Combine(root, "conf");
        CacheHome = Path.Combine(root, "xdg-cache");
        TempDir = Path.Combine(root, "tmp");
        DefaultNetrcFile = Path.Combine(ConfDir, "netrc");
        foreach (var dir in new[] { ConfDir, CacheHome, TempDir, Path.Combine(root, "xdg-config"),
                     Path.Combine(root, "xdg-data"), Path.Combine(root, "xdg-state"), Path.Combine(root, "keys"),
                     Path.Combine(root, "exprs"), Path.Combine(root, "caches") })
        {
            Directory.CreateDirectory(dir);
        }
        File.WriteAllText(Path.Combine(ConfDir, "nix.conf"), NixConf(DefaultNetrcFile));
        File.WriteAllText(Path.Combine(ConfDir, "user.conf"), "");

        Environment = new Dictionary<string, string?>
        {
            ["NIX_CONF_DIR"] = ConfDir,
            ["NIX_USER_CONF_FILES"] = Path.Combine(ConfDir, "user.conf"),
            ["XDG_CACHE_HOME"] = CacheHome,
            ["XDG_CONFIG_HOME"] = Path.Combine(root, "xdg-config"),
            ["XDG_DATA_HOME"] = Path.Combine(root, "xdg-data"),
            ["XDG_STATE_HOME"] = Path.Combine(root, "xdg-state"),
            ["TMPDIR"] = TempDir,
            ["NIX_REMOTE"] = null,
            ["NIX_PATH"] = null,
            ["NIX_CONFIG"] = null,
            ["NIX_STORE_DIR"] = null,
        };
    }

    /// <summary>The temporary folder holding everything this instance writes outside /nix/store.</summary>
    public string Root { get; }

    /// <summary>NIX_CONF_DIR: holds nix.conf (see <see cref="NixConf"/>) and the default (empty) netrc.</summary>
    public string ConfDir { get; }

    /// <summary>XDG_CACHE_HOME: Nix keeps its narinfo disk cache in <c>nix/binary-cache-v6.sqlite</c> under it.</summary>
    public string CacheHome { get; }

    public string TempDir { get; }

    /// <summary>The netrc-file named in nix.conf; <see cref="WriteNetrc"/> writes other files, passed per call.</summary>
    public string DefaultNetrcFile { get; }

    /// <summary>Environment overrides given to every Nix process (null removes a variable).</summary>
    public IReadOnlyDictionary<string, string?> Environment { get; }

    /// <summary>
    /// The settings, and why: NIX_CONF_DIR replaces /etc/nix/nix.conf, so <c>sandbox = false</c> must be repeated
    /// (Nix's default is true, and in the sandbox <c>/bin/sh</c> does not exist). <c>build-users-group =</c> empty
    /// builds as root (the Debian package creates nixbld, but this keeps us independent of it). No substituters
    /// (the default, cache.nixos.org, is unreachable and costs ~5 s of retries per command). The narinfo disk cache
    /// remembers hits for 30 days and misses for 1 hour by default, keyed by URL: with TTL 0 and a private
    /// XDG_CACHE_HOME, a new server on a reused URL is always asked.
    /// </summary>
    public static string NixConf(string netrcFile) =>
        $"""
        experimental-features = nix-command
        sandbox = false
        build-users-group =
        substituters =
        trusted-public-keys =
        require-sigs = true
        fallback = false
        netrc-file = {netrcFile}
        narinfo-cache-negative-ttl = 0
        narinfo-cache-positive-ttl = 0
        connect-timeout = 5
        auto-optimise-store = false
        keep-build-log = false

        """;

    /// <summary>A new isolated environment, or an exception saying nix-bin must be installed. We never skip.</summary>
    public static NixEnvironment Require()
    {
        foreach (var tool in RequiredTools)
        {
            RequiredComponent.Program(tool, "nix-bin");
        }

        var root = Path.Combine(Path.GetTempPath(), "flywheel-nix-" + TestTools.RandomNonce(12));
        return new NixEnvironment(root);
    }

    /// <summary>Runs a Nix tool with this environment; does not check the exit code.</summary>
    public Task<ProcessResult> RunAsync(string tool, IEnumerable<string> arguments, string? standardInput = null,
        TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        TestProcess.RunAsync(tool, arguments, Environment, standardInput, timeout, Root, cancellationToken);

    /// <summary>A new random nonce that store path names made by a test may carry; <see cref="DeletePathsAsync"/> may then delete them.</summary>
    public string NewNonce()
    {
        var nonce = TestTools.RandomNonce(10);
        lock (_gate)
        {
            _nonces.Add(nonce);
        }

        return nonce;
    }

    /// <summary>
    /// Builds four new store paths (names <c>fw-{top,middle,large,leaf}-{testName}-{nonce}</c>): leaf (a small file),
    /// middle (a directory whose file and symlink reference leaf), large (<paramref name="largeBytes"/> random bytes),
    /// top (a directory with an executable script referencing middle and large). References are found by Nix's scanner.
    /// </summary>
    public async Task<NixClosure> BuildClosureAsync(string testName, int largeBytes = 2 * 1024 * 1024)
    {
        var nonce = NewNonce();
        var safeName = new string(testName.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-').ToArray());
        if (safeName.Length > 80)
        {
            safeName = safeName[..80];
        }
        var expression = Path.Combine(Root, "exprs", $"{safeName}-{nonce}.nix");
        await File.WriteAllTextAsync(expression, ClosureExpression(safeName, nonce, largeBytes));

        string[] kinds = ["top", "middle", "large", "leaf"];
        var build = (await RunAsync("nix-build", ["--no-out-link", expression, .. kinds.SelectMany(k => new[] { "-A", k })]))
            .EnsureSuccess();
        var built = build.OutputLines.Where(l => l.StartsWith(StoreDir + "/", StringComparison.Ordinal)).ToArray();
        var outputs = kinds
            .Select(kind => built.SingleOrDefault(p => Path.GetFileName(p)[33..].StartsWith($"fw-{kind}-", StringComparison.Ordinal))
                ?? throw new InvalidOperationException(build.Describe($"did not print the {kind} output")))
            .ToArray();
        var derivations = (await RunAsync("nix-store", ["--query", "--deriver", .. outputs])).EnsureSuccess().OutputLines.ToArray();
        lock (_gate)
        {
            _createdPaths.UnionWith(outputs);
            _createdPaths.UnionWith(derivations);
        }
        var closure = await QueryClosureAsync([outputs[0]]);
        return new NixClosure(nonce, outputs, closure, derivations);
    }

    /// <summary>
    /// <c>nix-build</c> of <paramref name="expression"/> (a Nix file's text whose derivation names carry a nonce from
    /// <see cref="NewNonce"/>), one output per attribute in order; outputs and derivations are deleted on dispose.
    /// </summary>
    public async Task<IReadOnlyList<string>> BuildExpressionAsync(string name, string expression, params string[] attributes)
    {
        var file = Path.Combine(Root, "exprs", $"{name}-{TestTools.RandomNonce(6)}.nix");
        await File.WriteAllTextAsync(file, expression);
        var build = (await RunAsync("nix-build", ["--no-out-link", file, .. attributes.SelectMany(a => new[] { "-A", a })])).EnsureSuccess();
        var outputs = build.OutputLines.Where(l => l.StartsWith(StoreDir + "/", StringComparison.Ordinal)).ToArray();
        if (outputs.Length != attributes.Length)
        {
            throw new InvalidOperationException(build.Describe($"printed {outputs.Length} outputs for {attributes.Length} attributes"));
        }

        var derivations = (await RunAsync("nix-store", ["--query", "--deriver", .. outputs])).EnsureSuccess().OutputLines.ToArray();
        lock (_gate)
        {
            _createdPaths.UnionWith(outputs);
            _createdPaths.UnionWith(derivations);
        }

        return outputs;
    }

    private static string ClosureExpression(string name, string nonce, int largeBytes) =>
        // Nix '' strings: ${x} interpolates, $out does not; the builder has no PATH, so tools are named absolutely.
        $$"""
        let
          mk = kind: script: derivation {
            name = "fw-${kind}-{{name}}-{{nonce}}";
            system = builtins.currentSystem;
            builder = "/bin/sh";
            args = [ "-e" "-c" script ];
          };
        in rec {
          leaf = mk "leaf" ''
            printf 'leaf {{nonce}}\n' > "$out"
          '';
          large = mk "large" ''
            { printf 'large {{nonce}}\n'; /usr/bin/head -c {{largeBytes}} /dev/urandom; } > "$out"
          '';
          middle = mk "middle" ''
            /bin/mkdir "$out"
            printf '%s\n' "${leaf}" > "$out/leaf-path"
            /bin/ln -s "${leaf}" "$out/leaf-link"
          '';
          top = mk "top" ''
            /bin/mkdir -p "$out/bin"
            printf '#!/bin/sh\necho %s %s {{nonce}}\n' "${middle}" "${large}" > "$out/bin/top"
            /bin/chmod +x "$out/bin/top"
          '';
        }

        """;

    /// <summary><c>nix-store -qR</c>: the paths and everything they reference, transitively.</summary>
    public async Task<IReadOnlyList<string>> QueryClosureAsync(IEnumerable<string> paths) =>
        (await RunAsync("nix-store", ["--query", "--requisites", .. paths])).EnsureSuccess().OutputLines;

    /// <summary>True when the path is registered as valid in the local store.</summary>
    public async Task<bool> IsValidAsync(string path) =>
        (await RunAsync("nix-store", ["--check-validity", path])).Succeeded;

    /// <summary>
    /// Deletes paths this instance created (by nonce) from the local store, ignoring GC roots
    /// (<c>--ignore-liveness</c>; referrers must be in the same call), then asserts they are gone.
    /// </summary>
    public async Task<ProcessResult> DeletePathsAsync(IEnumerable<string> paths)
    {
        var list = paths.Distinct().ToArray();
        EnsureOwned(list);
        var result = (await RunAsync("nix-store", ["--delete", "--ignore-liveness", .. list])).EnsureSuccess();
        foreach (var path in list)
        {
            if (Path.Exists(path) || await IsValidAsync(path))
            {
                throw new InvalidOperationException(result.Describe($"left {path} in the store"));
            }
        }
        return result;
    }

    /// <summary><c>nix key generate-secret</c> and <c>nix key convert-secret-to-public</c>.</summary>
    public async Task<NixSigningKey> GenerateKeyAsync(string name)
    {
        var secret = (await RunAsync("nix", ["key", "generate-secret", "--key-name", name])).EnsureSuccess().StandardOutput.Trim();
        var publicKey = (await RunAsync("nix", ["key", "convert-secret-to-public"], standardInput: secret))
            .EnsureSuccess().StandardOutput.Trim();
        var file = Path.Combine(Root, "keys", $"{name}-{TestTools.RandomNonce(6)}.secret");
        await File.WriteAllTextAsync(file, secret);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        return new NixSigningKey(name, file, secret, publicKey);
    }

    /// <summary><c>nix store sign -k KEYFILE [-r] PATHS</c>: adds signatures in the local store's database.</summary>
    public async Task<ProcessResult> SignAsync(IEnumerable<string> paths, NixSigningKey key, bool recursive = true)
    {
        var list = paths.ToArray();
        EnsureOwned(list);
        return (await RunAsync("nix", ["store", "sign", "--key-file", key.SecretKeyFile, .. recursive ? ["--recursive"] : Array.Empty<string>(), .. list]))
            .EnsureSuccess();
    }

    /// <summary><c>nix copy --to URL PATHS</c> (copies their closures). URL may carry <c>?compression=…</c> etc.</summary>
    public async Task<ProcessResult> CopyToAsync(string url, IEnumerable<string> paths, string? netrcFile = null, bool check = true) =>
        Check(await RunAsync("nix", ["copy", "--to", url, .. NetrcOption(netrcFile), .. paths]), check);

    /// <summary><c>nix copy --from URL PATHS</c> into the local store, accepting only signatures by <paramref name="trustedPublicKey"/>.</summary>
    public async Task<ProcessResult> CopyFromAsync(string url, IEnumerable<string> paths, string trustedPublicKey,
        string? netrcFile = null, bool check = true) =>
        Check(await RunAsync("nix", ["copy", "--from", url, .. TrustOptions(trustedPublicKey), .. NetrcOption(netrcFile), .. paths]), check);

    /// <summary><c>nix-store -r PATHS</c> with <paramref name="substituterUrl"/> as the only substituter.</summary>
    public async Task<ProcessResult> RealiseAsync(IEnumerable<string> paths, string substituterUrl, string trustedPublicKey,
        string? netrcFile = null, bool check = true) =>
        Check(await RunAsync("nix-store",
            ["--realise", .. paths, "--option", "substituters", substituterUrl, .. TrustOptions(trustedPublicKey), .. NetrcOption(netrcFile)]), check);

    /// <summary>
    /// <c>nix store verify --no-contents --sigs-needed 1</c> against <paramref name="storeUrl"/> (a binary cache URL),
    /// or the local store when null. Note that paths built locally are "ultimate" (trusted without signatures), so
    /// verifying them in the local store proves nothing; verify the cache.
    /// </summary>
    public async Task<ProcessResult> VerifySignaturesAsync(IEnumerable<string> paths, string trustedPublicKey,
        string? storeUrl = null, bool check = true) =>
        Check(await RunAsync("nix",
            ["store", "verify", "--no-contents", "--sigs-needed", "1", .. storeUrl is null ? Array.Empty<string>() : ["--store", storeUrl],
                .. TrustOptions(trustedPublicKey), .. paths]), check);

    /// <summary>Writes a netrc file (<c>machine HOST login LOGIN password PASSWORD</c>) and returns its path; Nix 2.8
    /// sends it as preemptive Basic auth to that host (any port). Pass the path as <c>netrcFile</c>.</summary>
    public string WriteNetrc(string host, string password, string login = "x")
    {
        var file = Path.Combine(Root, $"netrc-{TestTools.RandomNonce(6)}");
        File.WriteAllText(file, $"machine {host} login {login} password {password}\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        return file;
    }

    public static IReadOnlyList<string> NetrcOption(string? netrcFile) =>
        netrcFile is null ? [] : ["--option", "netrc-file", netrcFile];

    public static IReadOnlyList<string> TrustOptions(string trustedPublicKey) =>
        ["--option", "trusted-public-keys", trustedPublicKey, "--option", "require-sigs", "true"];

    /// <summary>A new, empty <c>file://</c> binary cache inside <see cref="Root"/>.</summary>
    public string NewFileCacheUrl(string name, string compression = "zstd")
    {
        var dir = Path.Combine(Root, "caches", $"{name}-{TestTools.RandomNonce(6)}");
        Directory.CreateDirectory(dir);
        return $"file://{dir}?compression={compression}";
    }

    private static ProcessResult Check(ProcessResult result, bool check) => check ? result.EnsureSuccess() : result;

    private void EnsureOwned(IEnumerable<string> paths)
    {
        lock (_gate)
        {
            foreach (var path in paths)
            {
                var name = path.StartsWith(StoreDir + "/", StringComparison.Ordinal) ? Path.GetFileName(path) : "";
                if (name.Length < 34 || !_nonces.Any(n => name.Contains(n, StringComparison.Ordinal)))
                {
                    throw new InvalidOperationException($"Refusing to touch {path}: not a store path created by this NixEnvironment.");
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        string[] created;
        lock (_gate)
        {
            created = [.. _createdPaths];
        }
        if (created.Length > 0)
        {
            // Best effort: a failure here must not hide the test's own outcome. --print-invalid lists the gone ones.
            var invalid = await RunAsync("nix-store", ["--check-validity", "--print-invalid", .. created]);
            var gone = invalid.Succeeded ? invalid.OutputLines.ToHashSet() : [];
            var valid = created.Where(p => !gone.Contains(p)).ToArray();
            if (valid.Length > 0)
            {
                await RunAsync("nix-store", ["--delete", "--ignore-liveness", .. valid]);
            }
        }
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    public override string ToString() => $"NixEnvironment({Root})";
}
