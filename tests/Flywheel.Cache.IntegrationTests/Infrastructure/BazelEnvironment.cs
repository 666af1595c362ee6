using System.Security.Cryptography;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.IntegrationTests.Infrastructure;

/// <summary>
/// Real Bazel (4.2.3, Debian bazel-bootstrap) as a remote cache client, isolated per instance under one temporary
/// folder (<see cref="Root"/>): its own <c>--output_user_root</c> (the user's ~/.cache/bazel is never touched), its own
/// HOME, no rc files at all (<c>--nosystem_rc --nohome_rc --noworkspace_rc</c>: Debian's /etc/bazel/bazelrc would add
/// <c>--sandbox_debug</c>, which floods the output, and a user's /etc/bazel.bazelrc could add a cache of its own).
/// Debian's binary has no embedded install base, so the startup options its rc held are passed explicitly
/// (<c>--install_base=/usr/share/bazel --trust_install_base</c>); Bazel prints a harmless
/// "rc files are no longer being read: /etc/bazel/bazelrc" warning for it. Genrules build offline with nothing else
/// (no <c>--distdir</c> or repository overrides needed).
/// One Bazel server per workspace (servers are keyed by output base), started with a small heap and a short
/// <c>--max_idle_secs</c>, and shut down on dispose: three builds with a clean in between take ~8 s with a server
/// and ~30 s with <c>--batch</c>. <c>clean --expunge</c> also stops the server; the next command starts a new one (~3 s).
/// </summary>
public sealed class BazelEnvironment : IAsyncDisposable
{
    /// <summary>Where Debian's bazel-bootstrap keeps its install base (normally named in /etc/bazel/bazelrc).</summary>
    public const string DebianInstallBase = "/usr/share/bazel";

    /// <summary>Genrule actions in a workspace from <see cref="WriteWorkspace"/> (the processes a cache can serve).</summary>
    public const int WorkspaceActions = 4;

    /// <summary>Size of <c>large.bin</c>: 8 MiB, far above gRPC's 4 MiB message limit, so it needs streaming.</summary>
    public const int LargeOutputBytes = 8 * 1024 * 1024;

    /// <summary>The outputs of <c>//...</c>, relative to bazel-bin.</summary>
    public static readonly IReadOnlyList<string> WorkspaceOutputs = ["a.txt", "b.txt", "large.bin", "empty.txt", "combined.txt"];

    private readonly List<string> _workspaces = [];
    private readonly Dictionary<string, string> _binDirs = [];
    private readonly Lock _gate = new();
    private int _disposed;

    private BazelEnvironment(string root, string bazel)
    {
        Root = root;
        Bazel = bazel;
        OutputUserRoot = Path.Combine(root, "output-user-root");
        HomeDir = Path.Combine(root, "home");
        TempDir = Path.Combine(root, "tmp");
        foreach (var dir in new[] { OutputUserRoot, HomeDir, TempDir, Path.Combine(root, "workspaces"), Path.Combine(root, "caches") })
        {
            Directory.CreateDirectory(dir);
        }

        List<string> startup = ["--nosystem_rc", "--nohome_rc", "--noworkspace_rc"];
        if (File.Exists(Path.Combine(DebianInstallBase, "install_base_key")))
        {
            startup.AddRange([$"--install_base={DebianInstallBase}", "--trust_install_base"]);
        }
        startup.AddRange([$"--output_user_root={OutputUserRoot}", "--host_jvm_args=-Xmx1g", "--max_idle_secs=120"]);
        StartupOptions = startup;

        Environment = new Dictionary<string, string?>
        {
            ["HOME"] = HomeDir,
            ["TMPDIR"] = TempDir,
            // Bazel (and the /usr/bin/bazel wrapper script) would otherwise pick another root, version or rc.
            ["TEST_TMPDIR"] = null,
            ["USE_BAZEL_VERSION"] = null,
            ["BAZELISK_HOME"] = null,
            ["BAZEL_REAL"] = null,
        };
    }

    /// <summary>The temporary folder holding everything this instance writes.</summary>
    public string Root { get; }

    /// <summary>The <c>bazel</c> executable found on PATH.</summary>
    public string Bazel { get; }

    public string OutputUserRoot { get; }

    public string HomeDir { get; }

    public string TempDir { get; }

    /// <summary>Startup options put before every command (see the class summary for why each is there).</summary>
    public IReadOnlyList<string> StartupOptions { get; }

    /// <summary>Build options put before the caller's flags: no convenience symlinks in the workspace (they would point
    /// at another output base and be read as packages), plain output.</summary>
    public static IReadOnlyList<string> DefaultBuildOptions { get; } =
        ["--symlink_prefix=/", "--color=no", "--curses=no", "--noshow_progress"];

    /// <summary>Environment overrides given to every Bazel process (null removes a variable).</summary>
    public IReadOnlyDictionary<string, string?> Environment { get; }

    /// <summary>The workspace the last <see cref="WriteWorkspace"/> made; commands run there.</summary>
    public string? Workspace { get; private set; }

    /// <summary>The nonce written into every action of <see cref="Workspace"/>.</summary>
    public string? Nonce { get; private set; }

    /// <summary>A new isolated environment, or an exception saying bazel-bootstrap must be installed. We never skip.</summary>
    public static BazelEnvironment Require()
    {
        var bazel = RequiredComponent.Program("bazel", "bazel-bootstrap");
        return new BazelEnvironment(Path.Combine(Path.GetTempPath(), "flywheel-bazel-" + TestTools.RandomNonce(12)), bazel);
    }

    /// <summary>
    /// Writes a new workspace <c>{name}-{nonce}</c> (empty WORKSPACE, no external dependencies) and makes it current.
    /// Its BUILD has four genrules, each command carrying the nonce so a fresh cache never saw their action keys:
    /// <c>multi</c> (two outputs, a.txt and b.txt), <c>large</c> (large.bin, <see cref="LargeOutputBytes"/> of
    /// deterministic text), <c>empty</c> (empty.txt, 0 bytes: the empty blob) and <c>combined</c> (combined.txt,
    /// built from the outputs of multi and large). Outputs are identical on every build.
    /// </summary>
    public string WriteWorkspace(string name)
    {
        var nonce = TestTools.RandomNonce(10);
        var safeName = new string(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '-').ToArray());
        if (safeName.Length > 60)
        {
            safeName = safeName[..60];
        }
        var dir = Path.Combine(Root, "workspaces", $"{safeName}-{nonce}");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "WORKSPACE"), "");
        File.WriteAllText(Path.Combine(dir, "BUILD"), BuildFile(nonce));
        lock (_gate)
        {
            _workspaces.Add(dir);
        }
        Workspace = dir;
        Nonce = nonce;
        return dir;
    }

    // Genrule commands run under `set -euo pipefail`, so no `yes | head` (SIGPIPE fails the action).
    private static string BuildFile(string nonce) =>
        $$"""
        # Flywheel.Cache Bazel integration test workspace, nonce {{nonce}}.
        genrule(
            name = "multi",
            outs = ["a.txt", "b.txt"],
            cmd = "echo 'a {{nonce}}' > $(location a.txt) && echo 'b {{nonce}}' > $(location b.txt)",
        )

        genrule(
            name = "large",
            outs = ["large.bin"],
            cmd = "{ echo 'large {{nonce}}'; seq 1 1300000; } > $@ && truncate -s {{LargeOutputBytes}} $@",
        )

        genrule(
            name = "empty",
            outs = ["empty.txt"],
            cmd = ": > $@ # {{nonce}}",
        )

        genrule(
            name = "combined",
            srcs = [":multi", ":large"],
            outs = ["combined.txt"],
            cmd = "cat $(locations :multi) > $@ && wc -c < $(location :large) >> $@ && echo 'combined {{nonce}}' >> $@",
        )

        """;

    /// <summary>Runs <c>bazel STARTUP… COMMAND ARGS…</c> in the current workspace; does not check the exit code.</summary>
    public Task<ProcessResult> RunAsync(string command, IEnumerable<string> arguments, TimeSpan? timeout = null,
        CancellationToken cancellationToken = default) =>
        RunInAsync(RequireWorkspace(), command, arguments, timeout, cancellationToken);

    private Task<ProcessResult> RunInAsync(string workspace, string command, IEnumerable<string> arguments, TimeSpan? timeout,
        CancellationToken cancellationToken) =>
        TestProcess.RunAsync(Bazel, [.. StartupOptions, command, .. arguments], Environment, null, timeout, workspace, cancellationToken);

    /// <summary><c>bazel build //...</c> with <paramref name="extraFlags"/> (e.g. <c>--remote_cache=grpc://127.0.0.1:PORT</c>,
    /// <c>--remote_header=Authorization=Bearer TOKEN</c>, <c>--remote_instance_name=…</c>, <c>--disk_cache=DIR</c>).
    /// Does not check the exit code: see <see cref="BazelBuildResult.EnsureSuccess"/>.</summary>
    public async Task<BazelBuildResult> BuildAsync(IEnumerable<string>? extraFlags = null, TimeSpan? timeout = null,
        CancellationToken cancellationToken = default) =>
        BazelBuildResult.From(await RunAsync("build", [.. DefaultBuildOptions, .. extraFlags ?? [], "//..."], timeout, cancellationToken));

    /// <summary><c>bazel clean</c>: deletes outputs and Bazel's local action cache but keeps the server, so the next build
    /// asks the remote cache for every action (the fast way to get a "fresh client").</summary>
    public async Task CleanAsync() => (await RunAsync("clean", ["--color=no", "--curses=no"])).EnsureSuccess();

    /// <summary><c>bazel clean --expunge</c>: deletes the whole output base and stops its server.</summary>
    public async Task CleanExpungeAsync()
    {
        var workspace = RequireWorkspace();
        (await RunInAsync(workspace, "clean", ["--expunge", "--color=no", "--curses=no"], null, default)).EnsureSuccess();
    }

    /// <summary><c>bazel shutdown</c> for the current workspace's server (a no-op when none runs).</summary>
    public async Task ShutdownAsync() => (await RunAsync("shutdown", [])).EnsureSuccess();

    /// <summary>bazel-bin of the current workspace (asked once with <c>bazel info bazel-bin</c>, then remembered).</summary>
    public async Task<string> BinDirAsync()
    {
        var workspace = RequireWorkspace();
        lock (_gate)
        {
            if (_binDirs.TryGetValue(workspace, out var known))
            {
                return known;
            }
        }
        var info = (await RunInAsync(workspace, "info", ["bazel-bin"], null, default)).EnsureSuccess();
        var bin = info.OutputLines.Single();
        lock (_gate)
        {
            _binDirs[workspace] = bin;
        }
        return bin;
    }

    /// <summary>The bytes of an output of the current workspace: a label (<c>//:a.txt</c>, <c>:a.txt</c>), a path relative to
    /// bazel-bin (<c>a.txt</c>) or an absolute path.</summary>
    public async Task<byte[]> OutputBytesAsync(string labelOrPath) => await File.ReadAllBytesAsync(await OutputPathAsync(labelOrPath));

    public async Task<string> OutputPathAsync(string labelOrPath)
    {
        if (Path.IsPathRooted(labelOrPath) && !labelOrPath.StartsWith("//", StringComparison.Ordinal))
        {
            return labelOrPath;
        }
        var relative = labelOrPath.StartsWith("//", StringComparison.Ordinal) ? labelOrPath[2..] : labelOrPath;
        relative = relative.StartsWith(':') ? relative[1..] : relative.Replace(':', '/');
        return Path.Combine(await BinDirAsync(), relative);
    }

    /// <summary>SHA-256 (lower-case hex) of each of <see cref="WorkspaceOutputs"/>, to compare builds; missing files throw.</summary>
    public async Task<IReadOnlyDictionary<string, string>> OutputDigestsAsync()
    {
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var output in WorkspaceOutputs)
        {
            result[output] = Convert.ToHexStringLower(SHA256.HashData(await OutputBytesAsync(output)));
        }
        return result;
    }

    /// <summary>A new, empty folder inside <see cref="Root"/> for <c>--disk_cache=</c>.</summary>
    public string NewDiskCacheDir(string name)
    {
        var dir = Path.Combine(Root, "caches", $"{name}-{TestTools.RandomNonce(6)}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    private string RequireWorkspace() =>
        Workspace ?? throw new InvalidOperationException("Call WriteWorkspace before running Bazel.");

    /// <summary>Shuts down the server of every workspace this instance wrote, then deletes <see cref="Root"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        string[] workspaces;
        lock (_gate)
        {
            workspaces = [.. _workspaces];
        }
        foreach (var workspace in workspaces)
        {
            // Best effort: a failure here must not hide the test's own outcome.
            try
            {
                await RunInAsync(workspace, "shutdown", [], TimeSpan.FromMinutes(1), default);
            }
            catch (InvalidOperationException)
            {
            }
        }
        DeleteTree(Root);
    }

    /// <summary>Deletes a tree Bazel wrote: it leaves outputs and some folders read-only, so add write permission first.</summary>
    private static void DeleteTree(string root)
    {
        try
        {
            Directory.Delete(root, recursive: true);
            return;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        try
        {
            foreach (var dir in Directory.EnumerateDirectories(root, "*", new EnumerationOptions
            { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint, IgnoreInaccessible = true }))
            {
                File.SetUnixFileMode(dir, File.GetUnixFileMode(dir) | UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            Directory.Delete(root, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    public override string ToString() => $"BazelEnvironment({Root})";
}
