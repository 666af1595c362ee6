using System.Diagnostics;
using Flywheel.Cache.Tests.Infrastructure;

namespace Flywheel.Cache.Tests.Compression;

/// <summary>Runs a system compression tool (xz, zstd, bzip2, brotli) over bytes: stdin in, stdout out.</summary>
internal static class SystemTool
{
    public static byte[] Run(string tool, byte[] input, params string[] args)
    {
        var psi = new ProcessStartInfo(RequiredComponent.Program(tool, tool == "xz" ? "xz-utils" : tool))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi)!;
        var output = new MemoryStream();
        var copy = process.StandardOutput.BaseStream.CopyToAsync(output);
        var errors = process.StandardError.ReadToEndAsync();
        process.StandardInput.BaseStream.Write(input);
        process.StandardInput.Close();
        copy.Wait();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{tool} failed ({process.ExitCode}): {errors.Result}");
        }

        return output.ToArray();
    }
}
