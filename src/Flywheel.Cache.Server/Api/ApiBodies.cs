using System.Text.Json;
using Flywheel.Cache.Server.Hosting;
using Flywheel.Cache.Server.Http;
using Microsoft.Extensions.Options;

namespace Flywheel.Cache.Server.Api;

/// <summary>
/// Reads the JSON body of an API request, for every <c>/_api/v1</c> route that takes one. Routes call it only after
/// they have checked the caller's token (minimal-API parameter binding would read the body before the handler
/// runs, for anyone), and it reads at most <see cref="ServerOptions.ApiMaxBodyBytes"/>: larger bodies are 413.
/// Errors name where the JSON is wrong, never its content.
/// </summary>
public sealed class ApiBodies
{
    private readonly long _limit;
    private readonly JsonSerializerOptions _json;

    public ApiBodies(ServerOptions options, IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json)
    {
        _limit = options.ApiMaxBodyBytes;
        _json = json.Value.SerializerOptions; // the options responses are written with
    }

    public async Task<T> ReadJsonAsync<T>(HttpContext context)
        where T : class
    {
        var body = await RequestBodies.ReadSmallAsync(context.Request, _limit, "request body");
        try
        {
            return JsonSerializer.Deserialize<T>(body, _json) ?? throw CacheException.Invalid("the request body is null: send a JSON object");
        }
        catch (JsonException e)
        {
            throw CacheException.Invalid(
                $"the request body is not the JSON object this route takes (at {e.Path ?? "$"}, line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1})");
        }
    }
}
