using Flywheel.Cache.Grpc.Protocol;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Matching;

namespace Flywheel.Cache.Grpc.Server;

/// <summary>Marks the endpoint of <see cref="GrpcEndpointRouteBuilderExtensions.MapGrpcFallback"/>.</summary>
internal sealed class GrpcFallbackMetadata
{
    public static readonly GrpcFallbackMetadata Instance = new();
}

/// <summary>
/// Lets the gRPC fallback endpoint match only requests with a gRPC content type, so other POSTs to
/// unknown paths still get the host's usual 404.
/// </summary>
internal sealed class GrpcFallbackMatcherPolicy : MatcherPolicy, IEndpointSelectorPolicy
{
    public override int Order => 0;

    public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints)
    {
        foreach (Endpoint endpoint in endpoints)
        {
            if (endpoint.Metadata.GetMetadata<GrpcFallbackMetadata>() is not null)
            {
                return true;
            }
        }

        return false;
    }

    public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
    {
        if (GrpcProtocol.IsGrpcContentType(httpContext.Request.ContentType))
        {
            return Task.CompletedTask;
        }

        for (int i = 0; i < candidates.Count; i++)
        {
            if (candidates.IsValidCandidate(i)
                && candidates[i].Endpoint.Metadata.GetMetadata<GrpcFallbackMetadata>() is not null)
            {
                candidates.SetValidity(i, false);
            }
        }

        return Task.CompletedTask;
    }
}
