using System.Net.Http.Json;
using System.Text.Json;
using Flywheel.Cache.Server.Api;

namespace Flywheel.Cache.Tests.Promotion;

/// <summary>Calls the promotions API of a test daemon.</summary>
internal static class PromotionClient
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static async Task<PromotionView> PromoteAsync(HttpClient client, PromotionRequestBody body)
    {
        using var response = await client.PostAsJsonAsync("/_api/v1/promotions", body, Json);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonSerializer.Deserialize<PromotionView>(text, Json)!;
    }

    public static async Task<string> CreatePromoteTokenAsync(HttpClient admin, string cache = "main")
    {
        using var response = await admin.PostAsJsonAsync("/_api/v1/tokens", new CreateTokenRequest(cache, "push,promote"), Json);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<CreatedToken>(Json))!.Secret;
    }

    public static string Rule(PromotionView view, string rule) =>
        view.Decision!.Value.GetProperty("rules").EnumerateArray().Single(r => r.GetProperty("rule").GetString() == rule).GetProperty("reason").GetString()!;
}
