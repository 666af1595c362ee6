using Build.Bazel.Remote.Execution.V2;
using Build.Bazel.Semver;
using Flywheel.Cache.Bazel;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Auth;
using Grpc.Core;

namespace Flywheel.Cache.Server.BazelGrpc;

/// <summary>
/// <c>Capabilities.GetCapabilities</c>: a cache-only server speaking REAPI 2.0 to 2.3 with SHA-256.
/// Bazel 4.2 accepts the answer only when 2.0 lies in [low, high], SHA-256 is listed and, unless it runs with
/// <c>--noremote_upload_local_results</c>, the action cache is writable; so <c>update_enabled</c> is always true
/// and a token without push learns of it on its first write (PERMISSION_DENIED), not here.
/// </summary>
internal sealed class CapabilitiesService : Capabilities.CapabilitiesBase
{
    public override async Task<ServerCapabilities> GetCapabilities(GetCapabilitiesRequest request, ServerCallContext call)
    {
        var http = call.GetHttpContext();
        var services = http.RequestServices;
        await services.GetRequiredService<BazelInstances>().ResolveAsync(http, request.InstanceName, TokenScopes.Pull);
        var limits = services.GetRequiredService<BazelCache>().Limits;
        return new ServerCapabilities
        {
            CacheCapabilities = new CacheCapabilities
            {
                DigestFunctions = { DigestFunction.Types.Value.Sha256 },
                ActionCacheUpdateCapabilities = new ActionCacheUpdateCapabilities { UpdateEnabled = true },
                MaxBatchTotalSizeBytes = limits.MaxBatchTotalBytes,
                SymlinkAbsolutePathStrategy = SymlinkAbsolutePathStrategy.Types.Value.Allowed,
                SupportedCompressors = { Compressor.Types.Value.Zstd },
                MaxCasBlobSizeBytes = limits.MaxBlobBytes,
            },
            ExecutionCapabilities = new ExecutionCapabilities { DigestFunction = DigestFunction.Types.Value.Sha256, ExecEnabled = false },
            LowApiVersion = new SemVer { Major = 2, Minor = 0 },
            HighApiVersion = new SemVer { Major = 2, Minor = 3 },
        };
    }
}
