using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace Flywheel.Cache.Tests.Infrastructure;

/// <summary>
/// A throwaway PostgreSQL server for tests: a cluster <c>initdb</c>-ed in a temporary folder (trust auth, no fsync),
/// listening on 127.0.0.1 at a free port and on a unix socket in that folder, stopped and deleted on dispose.
/// Use it as an xunit class fixture (one server per test class, a database per test via <see cref="CreateDatabase"/>),
/// or start a dedicated one with <see cref="InitializeAsync"/> to stop and restart it in a test.
/// The binaries come from the highest <c>/usr/lib/postgresql/&lt;version&gt;/bin</c> (Debian's <c>postgresql</c> package,
/// which scripts/test.sh installs); as root they run as the <c>postgres</c> system user, since PostgreSQL refuses root.
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    public const string SuperUser = "postgres";

    private const string BinariesRoot = "/usr/lib/postgresql";
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(90);

    private string? _root;
    private string? _bin;
    private NpgsqlDataSource? _admin;

    public string Host => "127.0.0.1";

    public int Port { get; private set; }

    /// <summary>The temporary folder: <c>data/</c> (the cluster), <c>postgres.log</c>, and the unix socket.</summary>
    public string Root => _root ?? throw new InvalidOperationException("the server is not initialized");

    public string DataDirectory => Path.Combine(Root, "data");

    public string LogFile => Path.Combine(Root, "postgres.log");

    public bool IsRunning { get; private set; }

    /// <summary>Whether the tools run as the <c>postgres</c> user (this process is root).</summary>
    public static bool RunsAsPostgresUser => Environment.UserName == "root";

    /// <summary>
    /// The bin folder of the highest installed PostgreSQL version, or an exception that says how to get one. Missing
    /// binaries fail the tests (<see cref="RequiredComponent"/>), never skip them.
    /// </summary>
    public static string FindBinaries()
    {
        var candidates = Directory.Exists(BinariesRoot)
            ? Directory.GetDirectories(BinariesRoot)
                .Select(dir => (Version: int.TryParse(Path.GetFileName(dir), out var v) ? v : -1, Bin: Path.Combine(dir, "bin")))
                .Where(c => c.Version >= 0 && File.Exists(Path.Combine(c.Bin, "initdb")) && File.Exists(Path.Combine(c.Bin, "pg_ctl")))
                .OrderByDescending(c => c.Version)
                .ToList()
            : [];
        if (candidates.Count > 0)
        {
            return candidates[0].Bin;
        }

        throw RequiredComponent.Missing($"the PostgreSQL server binaries (initdb, pg_ctl in {BinariesRoot}/<version>/bin)",
            "the Debian package postgresql (apt-get install postgresql)");
    }

    public async Task InitializeAsync()
    {
        _bin = FindBinaries();
        _root = Path.Combine(Path.GetTempPath(), "flywheel-pg-" + Nonce());
        Directory.CreateDirectory(_root);
        if (RunsAsPostgresUser)
        {
            await RunAsync("chown", [SuperUser + ":", _root], asPostgres: false);
        }

        await RunToolAsync("initdb",
            "-D", DataDirectory, "-U", SuperUser, "-A", "trust", "--no-sync", "--no-locale", "-E", "UTF8");

        Port = LoopbackPorts.Next();
        // Settings go into the cluster's own configuration, so no command line carries paths through a shell.
        await File.AppendAllTextAsync(Path.Combine(DataDirectory, "postgresql.conf"), string.Join('\n',
            "",
            "# flywheel test server",
            $"port = {Port}",
            "listen_addresses = '127.0.0.1'",
            $"unix_socket_directories = '{Root}'",
            "fsync = off",
            "synchronous_commit = off",
            "full_page_writes = off",
            "max_connections = 200",
            "shared_buffers = 32MB",
            ""));

        await StartAsync();
        _admin = NpgsqlDataSource.Create(ConnectionString("postgres"));
    }

    /// <summary>Starts the (stopped) server again on the same port and data, and waits until it accepts connections.</summary>
    public async Task StartAsync()
    {
        await RunToolAsync("pg_ctl", "-D", DataDirectory, "-l", LogFile, "-w", "-t", "60", "start");
        IsRunning = true;
    }

    /// <summary><c>pg_ctl stop -m fast</c>: sessions are terminated (57P01), the server is gone when this returns.</summary>
    public async Task StopAsync()
    {
        await RunToolAsync("pg_ctl", "-D", DataDirectory, "-m", "fast", "-w", "-t", "60", "stop");
        IsRunning = false;
    }

    /// <summary>A connection string to <paramref name="database"/> on 127.0.0.1 as the superuser (trust auth); connecting may take up to 30 s, as a test machine under load needs.</summary>
    public string ConnectionString(string database, int timeoutSeconds = 30, int commandTimeoutSeconds = 30, int maxPoolSize = 16) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = Host,
            Port = Port,
            Username = SuperUser,
            Database = database,
            Timeout = timeoutSeconds,
            CommandTimeout = commandTimeoutSeconds,
            MaxPoolSize = maxPoolSize,
        }.ConnectionString;

    /// <summary>Creates an empty database (synchronously, for code that cannot await).</summary>
    public void CreateDatabase(string name)
    {
        using var command = Admin.CreateCommand($"CREATE DATABASE {QuoteIdentifier(name)}");
        command.ExecuteNonQuery();
    }

    /// <summary>Creates an empty database named <paramref name="prefix"/> and a random suffix; returns its name.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix = "test")
    {
        var name = $"{prefix}_{Nonce()}";
        await using var command = Admin.CreateCommand($"CREATE DATABASE {QuoteIdentifier(name)}");
        await command.ExecuteNonQueryAsync();
        return name;
    }

    /// <summary>Drops a database, ending any session still connected to it.</summary>
    public async Task DropDatabaseAsync(string name)
    {
        await using var command = Admin.CreateCommand($"DROP DATABASE IF EXISTS {QuoteIdentifier(name)} WITH (FORCE)");
        await command.ExecuteNonQueryAsync();
    }

    public async Task DisposeAsync()
    {
        if (_admin is not null)
        {
            await _admin.DisposeAsync();
        }

        if (_root is null)
        {
            return;
        }

        if (IsRunning)
        {
            try
            {
                await StopAsync();
            }
            catch (InvalidOperationException)
            {
                await RunToolAsync("pg_ctl", "-D", DataDirectory, "-m", "immediate", "-w", "stop");
            }
        }

        Directory.Delete(_root, recursive: true);
    }

    private NpgsqlDataSource Admin => _admin ?? throw new InvalidOperationException("the server is not initialized");

    private static string QuoteIdentifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static string Nonce() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));


    private Task RunToolAsync(string tool, params string[] arguments) =>
        RunAsync(Path.Combine(_bin!, tool), arguments, asPostgres: RunsAsPostgresUser);

    /// <summary>Runs a program to its end (as the postgres user via runuser when asked); fails with its output otherwise.</summary>
    private async Task RunAsync(string program, IReadOnlyList<string> arguments, bool asPostgres)
    {
        var result = await TestProcess.RunAsync(
            asPostgres ? "runuser" : program,
            asPostgres ? ["-u", SuperUser, "--", program, .. arguments] : arguments,
            new Dictionary<string, string?> { ["LC_ALL"] = "C" },
            timeout: ToolTimeout,
            workingDirectory: _root ?? Path.GetTempPath());
        if (result.TimedOut)
        {
            throw new InvalidOperationException($"{Path.GetFileName(program)} did not finish within {ToolTimeout}: {result.StandardOutput}{result.StandardError}");
        }

        if (result.ExitCode != 0)
        {
            var log = File.Exists(Path.Combine(_root ?? "", "postgres.log")) ? File.ReadAllText(Path.Combine(_root!, "postgres.log")) : "";
            throw new InvalidOperationException(
                $"{Path.GetFileName(program)} {string.Join(' ', arguments)} exited with {result.ExitCode}: {result.StandardOutput}{result.StandardError}\n{log}");
        }
    }
}
