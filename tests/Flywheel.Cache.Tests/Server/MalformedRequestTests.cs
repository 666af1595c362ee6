using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;
using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;

namespace Flywheel.Cache.Tests.Server;

/// <summary>
/// Requests that break the HTTP framing or the protocol's rules on every upload route get a 4xx with a short
/// message, never a 500, and what was stored before under the same name stays served.
/// </summary>
public sealed class MalformedRequestTests : IClassFixture<DaemonFixture>
{
    private readonly DaemonFixture _daemon;

    public MalformedRequestTests(DaemonFixture daemon)
    {
        _daemon = daemon;
    }

    public static TheoryData<string> UploadRoutes => new() { "narinfo", "nar", "ac", "instance-ac", "cache-log", "build-log", "cas" };

    [Theory]
    [MemberData(nameof(UploadRoutes))]
    public async Task A_chunk_size_beyond_any_length_is_a_400_and_what_was_stored_stays(string route)
    {
        var (path, stored) = await StoreSomethingAsync(route);

        var response = await SendRawAsync(
            $"PUT {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {_daemon.AdminToken}\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n");

        Assert.StartsWith("HTTP/1.1 400 ", response, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", response, StringComparison.Ordinal); // no stack trace reaches the client
        await AssertStillStoredAsync(path, stored);
    }

    [Theory]
    [MemberData(nameof(UploadRoutes))]
    public async Task A_body_shorter_than_its_content_length_is_a_400_and_what_was_stored_stays(string route)
    {
        var (path, stored) = await StoreSomethingAsync(route);

        // The client sends less than it declared and stops sending (half-close): the body ends early. The server may
        // answer 400 or just close the connection of a client that has gone, but never 500, and keeps what it had.
        var response = await SendRawAsync(
            $"PUT {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {_daemon.AdminToken}\r\nContent-Length: {stored.Length + 100}\r\n\r\n",
            stored, halfClose: true);

        Assert.True(response.Length == 0 || response.StartsWith("HTTP/1.1 400 ", StringComparison.Ordinal), response);
        await AssertStillStoredAsync(path, stored);
    }

    [Fact]
    public async Task A_narinfo_that_is_not_utf8_is_a_400()
    {
        using var client = _daemon.CreateClient(_daemon.AdminToken);
        var upload = NarUpload.Create("not-utf8", "contents");
        using (var nar = await client.PutAsync($"/main/nar/{upload.NarFileName}", new ByteArrayContent(upload.Nar)))
        {
            Assert.Equal(HttpStatusCode.NoContent, nar.StatusCode);
        }

        var bytes = Encoding.UTF8.GetBytes(upload.NarInfo + "Deriver: ").Concat(new byte[] { 0xff, 0xfe, 0x80, (byte)'\n' }).ToArray();
        using var put = await client.PutAsync($"/main/{upload.StorePathHash}.narinfo", new ByteArrayContent(bytes));
        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
    }

    [Theory]
    [InlineData("narinfo")]
    [InlineData("nar")]
    [InlineData("cache-log")]
    [InlineData("ac")]
    public async Task An_over_long_name_is_a_4xx(string route)
    {
        var longName = new string('a', 8000);
        var path = route switch
        {
            "narinfo" => $"/main/{longName}.narinfo",
            "nar" => $"/main/nar/{longName}.nar",
            "cache-log" => $"/main/log/{longName}.drv",
            _ => $"/main/ac/{longName}",
        };
        using var client = _daemon.CreateClient(_daemon.AdminToken);
        using var put = await client.PutAsync(path, new ByteArrayContent([1, 2, 3]));
        Assert.InRange((int)put.StatusCode, 400, 499);
        Assert.True((await put.Content.ReadAsStringAsync()).Length < 500, "the answer is short and does not echo the whole name");
    }

    /// <summary>Stores a valid body at the route's path, so a later malformed PUT can show it does not lose it.</summary>
    private async Task<(string Path, byte[] Body)> StoreSomethingAsync(string route)
    {
        using var client = _daemon.CreateClient(_daemon.AdminToken);
        string path;
        byte[] body;
        switch (route)
        {
            case "narinfo":
                {
                    var upload = NarUpload.Create("stays-" + Guid.NewGuid().ToString("N")[..8], "stays");
                    await upload.PushAsync(client);
                    path = $"/main/{upload.StorePathHash}.narinfo";
                    body = await client.GetByteArrayAsync(path);
                    return (path, body);
                }

            case "nar":
                {
                    var upload = NarUpload.Create("stays", "stays " + Guid.NewGuid());
                    path = $"/main/nar/{upload.NarFileName}";
                    body = upload.Nar;
                    break;
                }

            case "ac":
            case "instance-ac":
                {
                    body = new Build.Bazel.Remote.Execution.V2.ActionResult { ExitCode = 3 }.ToByteArray();
                    var action = BazelGrpc.ReapiClient.DigestOf(BazelGrpc.ReapiServiceTests.RandomBytes(32)).Hash;
                    path = (route == "ac" ? "" : "/main") + $"/ac/{action}";
                    break;
                }

            case "cache-log":
                {
                    path = $"/main/log/{NixBase32.Encode(Guid.NewGuid().ToByteArray().Concat(new byte[4]).ToArray())}-stays.drv";
                    body = Encoding.UTF8.GetBytes("a log that stays\n");
                    break;
                }

            case "build-log":
                {
                    using var submitted = await client.PostAsJsonAsync("/_api/v1/builds", new { installable = "/src/default.nix#stays", cache = "main" });
                    Assert.Equal(HttpStatusCode.Created, submitted.StatusCode);
                    var id = (await submitted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
                    path = $"/_api/v1/builds/{id}/log";
                    body = Encoding.UTF8.GetBytes("a build log that stays\n");
                    break;
                }

            default:
                {
                    body = BazelGrpc.ReapiServiceTests.RandomBytes(1000);
                    path = $"/cas/{BazelGrpc.ReapiClient.DigestOf(body).Hash}";
                    break;
                }
        }

        using var put = await client.PutAsync(path, new ByteArrayContent(body));
        Assert.True(put.IsSuccessStatusCode, $"{path}: {put.StatusCode} {await put.Content.ReadAsStringAsync()}");
        return (path, body);
    }

    private async Task AssertStillStoredAsync(string path, byte[] stored)
    {
        if (path.StartsWith("/_api/v1/builds/", StringComparison.Ordinal))
        {
            // A build's log is served once a worker files it; what the PUT stored is the attempt's cache file.
            var id = path.Split('/')[4];
            var build = await _daemon.Services.GetRequiredService<IMetadataIndex>().GetBuildAsync(id, CancellationToken.None);
            var cache = await _daemon.Services.GetRequiredService<CacheCatalog>().FindAsync(build!.Cache, CancellationToken.None);
            var file = await _daemon.Services.GetRequiredService<NixBinaryCache>().OpenFileAsync(cache!, build.AttemptLogPath, CancellationToken.None);
            Assert.NotNull(file);
            await using var content = await file.Value.Blob.OpenReadAsync(CancellationToken.None);
            using var copy = new MemoryStream();
            await content.CopyToAsync(copy);
            Assert.Equal(stored, copy.ToArray());
            return;
        }

        using var client = _daemon.CreateClient(_daemon.AdminToken);
        Assert.Equal(stored, await client.GetByteArrayAsync(path));
    }

    /// <summary>
    /// Sends <paramref name="head"/> (and <paramref name="body"/>) on a fresh connection and returns the answer up to the
    /// end of its body or of the connection. With <paramref name="halfClose"/> the client then stops sending, so the
    /// server sees the request end where the bytes end (it may answer, or just close: the client has gone).
    /// </summary>
    private async Task<string> SendRawAsync(string head, byte[]? body = null, bool halfClose = false)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(_daemon.BaseAddress.Host, _daemon.BaseAddress.Port);
        await socket.SendAsync(Encoding.ASCII.GetBytes(head), SocketFlags.None);
        if (body is not null)
        {
            await socket.SendAsync(body, SocketFlags.None);
        }

        if (halfClose)
        {
            socket.Shutdown(SocketShutdown.Send);
        }

        var answer = new List<byte>();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            int read;
            while ((read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
            {
                answer.AddRange(buffer.AsSpan(0, read));
                var text = Encoding.UTF8.GetString(answer.ToArray());
                var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                var length = System.Text.RegularExpressions.Regex.Match(text, "(?im)^content-length: *([0-9]+)");
                if (end >= 0 && length.Success && answer.Count >= end + 4 + int.Parse(length.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture))
                {
                    break;
                }
            }
        }
        catch (SocketException) when (halfClose)
        {
            // the server closed the connection on a client that stopped sending
        }

        return Encoding.UTF8.GetString(answer.ToArray());
    }
}
