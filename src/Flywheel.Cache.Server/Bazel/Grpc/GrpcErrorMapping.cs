using Flywheel.Cache.Grpc;

namespace Flywheel.Cache.Server.Bazel.Grpc;

/// <summary>The one place where the core's error vocabulary becomes gRPC status codes.</summary>
public static class GrpcErrorMapping
{
    public static GrpcStatusCode ToStatusCode(CacheError error) => error switch
    {
        CacheError.NotFound => GrpcStatusCode.NotFound,
        CacheError.Invalid => GrpcStatusCode.InvalidArgument,
        CacheError.TooLarge => GrpcStatusCode.InvalidArgument,
        CacheError.Quota => GrpcStatusCode.ResourceExhausted,
        CacheError.Unauthenticated => GrpcStatusCode.Unauthenticated,
        CacheError.Forbidden => GrpcStatusCode.PermissionDenied,
        CacheError.Conflict => GrpcStatusCode.AlreadyExists,
        CacheError.Unavailable => GrpcStatusCode.Unavailable,
        _ => GrpcStatusCode.Internal,
    };

    /// <summary>For <see cref="GrpcServerOptions.ExceptionMapper"/>: core errors keep their message; others stay unmapped (logged, UNKNOWN).</summary>
    public static (GrpcStatusCode Status, string Message)? Map(Exception exception) =>
        exception is CacheException e ? (ToStatusCode(e.Error), e.Message) : null;
}
