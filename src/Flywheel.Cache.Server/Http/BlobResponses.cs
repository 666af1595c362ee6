using System.Buffers;
using System.Globalization;
using Flywheel.Cache.Storage;
using Microsoft.Net.Http.Headers;

namespace Flywheel.Cache.Server.Http;

/// <summary>
/// Sends a blob: the whole or one byte range of it (Nix resumes downloads with Range), by sendfile when the
/// blob is a local file, else by streaming. HEAD gets the headers only.
/// </summary>
public static class BlobResponses
{
    private const int CopyBufferSize = 128 * 1024;

    public static async Task SendAsync(HttpContext context, BlobHandle blob, string contentType)
    {
        var response = context.Response;
        response.ContentType = contentType;
        response.Headers.AcceptRanges = "bytes";

        long offset = 0, count = blob.Length;
        var range = context.Request.Headers.Range;
        if (range.Count > 0 && !TryResolveRange(range.ToString(), blob.Length, out offset, out count))
        {
            response.StatusCode = StatusCodes.Status416RangeNotSatisfiable;
            response.Headers.ContentRange = $"bytes */{blob.Length}";
            return;
        }

        if (count != blob.Length)
        {
            response.StatusCode = StatusCodes.Status206PartialContent;
            response.Headers.ContentRange = new ContentRangeHeaderValue(offset, offset + count - 1, blob.Length).ToString();
        }

        response.ContentLength = count;
        if (HttpMethods.IsHead(context.Request.Method) || count == 0)
        {
            return;
        }

        if (blob.LocalPath is { } path)
        {
            await response.SendFileAsync(path, offset, count, context.RequestAborted);
            return;
        }

        await using var stream = await blob.OpenReadAsync(offset, count, context.RequestAborted);
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer.AsMemory(0, CopyBufferSize), context.RequestAborted)) > 0)
            {
                await response.Body.WriteAsync(buffer.AsMemory(0, read), context.RequestAborted);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Resolves a single-range <c>bytes=</c> header against a length. Multi-range requests are answered
    /// with the whole blob (allowed by RFC 9110: a server may ignore Range), unsatisfiable ones return false.
    /// </summary>
    public static bool TryResolveRange(string header, long length, out long offset, out long count)
    {
        offset = 0;
        count = length;
        if (!header.StartsWith("bytes=", StringComparison.OrdinalIgnoreCase) || header.Contains(','))
        {
            return true;
        }

        var spec = header.AsSpan(6).Trim();
        var dash = spec.IndexOf('-');
        if (dash < 0)
        {
            return true;
        }

        var first = spec[..dash].Trim();
        var last = spec[(dash + 1)..].Trim();
        if (first.IsEmpty)
        {
            // suffix range: the last N bytes
            if (!long.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out var suffix) || suffix == 0)
            {
                return false;
            }

            count = Math.Min(suffix, length);
            offset = length - count;
            return true;
        }

        if (!long.TryParse(first, NumberStyles.None, CultureInfo.InvariantCulture, out var start) || start >= length)
        {
            return false;
        }

        var end = length - 1;
        if (!last.IsEmpty)
        {
            if (!long.TryParse(last, NumberStyles.None, CultureInfo.InvariantCulture, out end) || end < start)
            {
                return false;
            }

            end = Math.Min(end, length - 1);
        }

        offset = start;
        count = end - start + 1;
        return true;
    }
}
