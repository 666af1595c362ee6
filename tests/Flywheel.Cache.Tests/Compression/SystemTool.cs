using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.Tests.Compression;

/// <summary>Runs a system compression tool (xz, zstd, bzip2, brotli) over bytes: stdin in, stdout out.</summary>
internal static class SystemTool
{
    public static byte[] Run(string tool, byte[] input, params string[] args)
    {
        using var output = new MemoryStream();
        var command = TestProcess.Command(RequiredComponent.Program(tool, tool == "xz" ? "xz-utils" : tool), args) with
        {
            StandardInput = input,
            StandardOutputStream = output,
        };
        var result = TestProcess.Runner.RunAsync(command, null, null, CancellationToken.None).GetAwaiter().GetResult();
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{tool} failed ({result.ExitCode}): {result.StandardError}");
        }

        return output.ToArray();
    }
}
