namespace Flywheel.Cache.Server.Http;

/// <summary>Reading small request bodies (narinfo, action results) into memory, within a limit.</summary>
internal static class RequestBodies
{
    public static async Task<byte[]> ReadSmallAsync(HttpRequest request, long limit, string what)
    {
        if (request.ContentLength > limit)
        {
            throw new CacheException(CacheError.TooLarge, $"{what} of {request.ContentLength} bytes exceeds the limit of {limit} bytes");
        }

        using var buffer = new MemoryStream(request.ContentLength is { } n ? (int)n : 4096);
        var chunk = new byte[8192];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                throw new CacheException(CacheError.TooLarge, $"{what} exceeds the limit of {limit} bytes");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }
}
