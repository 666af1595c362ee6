namespace Flywheel.Cache;

/// <summary>
/// The one error vocabulary of the core. Front doors map it to their protocol in one place each
/// (HTTP status for Nix and Bazel HTTP, gRPC status for REAPI, problem details for the API).
/// </summary>
public enum CacheError
{
    /// <summary>The thing asked for does not exist (HTTP 404, gRPC NOT_FOUND).</summary>
    NotFound,
    /// <summary>The request is malformed or does not match what it claims (HTTP 400, gRPC INVALID_ARGUMENT).</summary>
    Invalid,
    /// <summary>The request is well formed but too large (HTTP 413, gRPC INVALID_ARGUMENT / RESOURCE_EXHAUSTED).</summary>
    TooLarge,
    /// <summary>A quota was hit (HTTP 507, gRPC RESOURCE_EXHAUSTED).</summary>
    Quota,
    /// <summary>No or unknown credentials (HTTP 401, gRPC UNAUTHENTICATED).</summary>
    Unauthenticated,
    /// <summary>Credentials are valid but lack the scope (HTTP 403, gRPC PERMISSION_DENIED).</summary>
    Forbidden,
    /// <summary>The thing exists already and cannot be created again (HTTP 409, gRPC ALREADY_EXISTS).</summary>
    Conflict,
    /// <summary>A backend (storage, index, upstream) is unreachable (HTTP 503, gRPC UNAVAILABLE).</summary>
    Unavailable,
}

/// <summary>An error that the core reports to a client, with a message that says what is wrong.</summary>
public sealed class CacheException : Exception
{
    public CacheException(CacheError error, string message, Exception? inner = null)
        : base(message, inner)
    {
        Error = error;
    }

    public CacheError Error { get; }

    public static CacheException NotFound(string message) => new(CacheError.NotFound, message);
    public static CacheException Invalid(string message) => new(CacheError.Invalid, message);
}
