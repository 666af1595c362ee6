using Build.Bazel.Remote.Execution.V2;
using Flywheel.Cache.Bazel;
using Flywheel.Cache.Index;
using Flywheel.Cache.Server.Auth;
using Grpc.Core;

namespace Flywheel.Cache.Server.BazelGrpc;

/// <summary>
/// <c>ActionCache</c>: GetActionResult answers only entries whose referenced blobs all exist (else NOT_FOUND,
/// which Bazel treats as a miss); UpdateActionResult needs push on the instance. Answers are not compressed, whatever
/// the client accepts: an ActionResult is a few hundred bytes of paths and hex digests that gzip barely shrinks, while
/// it costs both sides a deflate/inflate set-up on every call (Bazel offers gzip on every call); inlined outputs are
/// blob bytes, sent as they are like every blob.
/// </summary>
internal sealed class ActionCacheService : ActionCache.ActionCacheBase
{
    public override async Task<ActionResult> GetActionResult(GetActionResultRequest request, ServerCallContext call)
    {
        call.WriteOptions = ByteStreamService.Uncompressed;
        var http = call.GetHttpContext();
        var services = http.RequestServices;
        var instance = await services.GetRequiredService<BazelInstances>().ResolveAsync(http, request.InstanceName, TokenScopes.Pull);
        BazelDigest.RequireServedFunction(request.DigestFunction);
        var digest = BazelDigest.From(request.ActionDigest, "action_digest");
        return await services.GetRequiredService<BazelCache>().GetActionResultMessageAsync(
                instance, digest, request.InlineStdout, request.InlineStderr, request.InlineOutputFiles, call.CancellationToken)
            ?? throw CacheException.NotFound($"no complete action result for {digest} in '{instance.Name}'");
    }

    public override async Task<ActionResult> UpdateActionResult(UpdateActionResultRequest request, ServerCallContext call)
    {
        call.WriteOptions = ByteStreamService.Uncompressed;
        var http = call.GetHttpContext();
        var services = http.RequestServices;
        var instance = await services.GetRequiredService<BazelInstances>().ResolveAsync(http, request.InstanceName, TokenScopes.Push);
        BazelDigest.RequireServedFunction(request.DigestFunction);
        var digest = BazelDigest.From(request.ActionDigest, "action_digest");
        if (request.ActionResult is null)
        {
            throw CacheException.Invalid("action_result is missing");
        }

        return await services.GetRequiredService<BazelCache>().UpdateActionResultAsync(instance, digest, request.ActionResult, call.CancellationToken);
    }
}
