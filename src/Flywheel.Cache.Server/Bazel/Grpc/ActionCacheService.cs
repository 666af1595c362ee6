using Build.Bazel.Remote.Execution.V2;
using Flywheel.Cache.Bazel;
using Flywheel.Cache.Grpc;
using Flywheel.Cache.Index;

namespace Flywheel.Cache.Server.Bazel.Grpc;

/// <summary>
/// <c>ActionCache</c>: GetActionResult answers only entries whose referenced blobs all exist (else NOT_FOUND,
/// which Bazel treats as a miss); UpdateActionResult needs push on the instance.
/// </summary>
internal static class ActionCacheService
{
    public const string Name = "build.bazel.remote.execution.v2.ActionCache";

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGrpcUnary<GetActionResultRequest, ActionResult>($"/{Name}/GetActionResult", GetActionResultRequest.Parser, GetAsync);
        app.MapGrpcUnary<UpdateActionResultRequest, ActionResult>($"/{Name}/UpdateActionResult", UpdateActionResultRequest.Parser, UpdateAsync);
    }

    private static async Task<ActionResult> GetAsync(GetActionResultRequest request, GrpcCallContext call)
    {
        var services = call.HttpContext.RequestServices;
        var instance = await services.GetRequiredService<BazelInstances>().ResolveAsync(call.HttpContext, request.InstanceName, TokenScopes.Pull);
        var digest = BazelDigest.From(request.ActionDigest, "action_digest");
        return await services.GetRequiredService<BazelCache>().GetActionResultMessageAsync(
                instance, digest, request.InlineStdout, request.InlineStderr, request.InlineOutputFiles, call.CancellationToken)
            ?? throw CacheException.NotFound($"no complete action result for {digest} in '{instance.Name}'");
    }

    private static async Task<ActionResult> UpdateAsync(UpdateActionResultRequest request, GrpcCallContext call)
    {
        var services = call.HttpContext.RequestServices;
        var instance = await services.GetRequiredService<BazelInstances>().ResolveAsync(call.HttpContext, request.InstanceName, TokenScopes.Push);
        var digest = BazelDigest.From(request.ActionDigest, "action_digest");
        if (request.ActionResult is null)
        {
            throw CacheException.Invalid("action_result is missing");
        }

        return await services.GetRequiredService<BazelCache>().UpdateActionResultAsync(instance, digest, request.ActionResult, call.CancellationToken);
    }
}
