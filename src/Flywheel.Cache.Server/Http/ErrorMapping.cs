namespace Flywheel.Cache.Server.Http;

/// <summary>The one place where the core's error vocabulary becomes HTTP status codes.</summary>
public static class ErrorMapping
{
    public static int ToStatusCode(CacheError error) => error switch
    {
        CacheError.NotFound => StatusCodes.Status404NotFound,
        CacheError.Invalid => StatusCodes.Status400BadRequest,
        CacheError.TooLarge => StatusCodes.Status413PayloadTooLarge,
        CacheError.Quota => StatusCodes.Status507InsufficientStorage,
        CacheError.Unauthenticated => StatusCodes.Status401Unauthorized,
        CacheError.Forbidden => StatusCodes.Status403Forbidden,
        CacheError.Conflict => StatusCodes.Status409Conflict,
        CacheError.Unavailable => StatusCodes.Status503ServiceUnavailable,
        _ => StatusCodes.Status500InternalServerError,
    };
}
