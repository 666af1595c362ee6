using System.Collections.Concurrent;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Flywheel.Cache.IntegrationTests.Infrastructure;

/// <summary>
/// Debian's Chromium (<c>/usr/bin/chromium</c>), headless, driven over the DevTools protocol on a loopback port: one
/// page, its console errors, uncaught exceptions and browser log errors collected (CSP violations and failed loads
/// are log errors), the URL and Authorization header of every request it sends, JavaScript evaluated in the page,
/// and full-page screenshots. No browser download and no driver: the protocol is JSON over a WebSocket. A machine
/// without Chromium fails the test (<see cref="RequiredComponent"/>).
/// </summary>
public sealed class HeadlessChromium : IAsyncDisposable
{
    public const string Binary = "/usr/bin/chromium";

    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly List<string> _errors = [];
    private readonly List<(string Url, string? Authorization)> _requests = [];
    private readonly StringBuilder _output = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly string _profile;
    private RunningProcess _process = null!;
    private ClientWebSocket _socket = null!;
    private Task _receiving = Task.CompletedTask;
    private int _nextId;

    private HeadlessChromium(string profile)
    {
        _profile = profile;
    }

    /// <summary>Errors the page reported so far: console.error, uncaught exceptions, browser log entries at level error.</summary>
    public IReadOnlyList<string> Errors
    {
        get
        {
            lock (_errors)
            {
                return [.. _errors];
            }
        }
    }

    /// <summary>Every request the page sent so far: its URL and its Authorization header (null: none).</summary>
    public IReadOnlyList<(string Url, string? Authorization)> Requests
    {
        get
        {
            lock (_requests)
            {
                return [.. _requests];
            }
        }
    }

    public static async Task<HeadlessChromium> StartAsync()
    {
        RequiredComponent.FileAt(Binary, "Chromium", "the Debian package chromium (apt-get install chromium)");
        var profile = Path.Combine(Path.GetTempPath(), "flywheel-chromium-" + TestTools.RandomNonce(10));
        Directory.CreateDirectory(profile);
        var browser = new HeadlessChromium(profile);
        string[] arguments =
        [
            "--headless=new", "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--user-data-dir=" + profile, "--window-size=1280,900",
            .. Environment.UserName == "root" ? new[] { "--no-sandbox" } : [], // Chromium's sandbox refuses to run as root
            "about:blank",
        ];
        browser._process = TestProcess.Start(
            TestProcess.Command(Binary, arguments, Timeout.InfiniteTimeSpan) with { MaxOutputChars = 0, MaxErrorChars = 0 }, browser.Append);

        // Chromium writes the port it bound (and the browser target's path) to DevToolsActivePort in the profile.
        var portFile = Path.Combine(profile, "DevToolsActivePort");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!File.Exists(portFile) || (await File.ReadAllLinesAsync(portFile)).Length < 2)
        {
            if (browser._process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"chromium did not start its DevTools endpoint:\n{browser.Output}");
            }

            await Task.Delay(100);
        }

        var port = int.Parse((await File.ReadAllLinesAsync(portFile))[0], System.Globalization.CultureInfo.InvariantCulture);
        using var http = new HttpClient();
        var targets = JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/json/list")).RootElement;
        var page = targets.EnumerateArray().First(t => t.GetProperty("type").GetString() == "page");
        browser._socket = new ClientWebSocket();
        browser._socket.Options.KeepAliveInterval = TimeSpan.Zero;
        await browser._socket.ConnectAsync(new Uri(page.GetProperty("webSocketDebuggerUrl").GetString()!), CancellationToken.None);
        browser._receiving = Task.Run(browser.ReceiveAsync);
        foreach (var domain in new[] { "Page", "Runtime", "Log", "Network" })
        {
            await browser.SendAsync(domain + ".enable");
        }

        return browser;
    }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Sends one DevTools command and returns its result; a protocol error throws.</summary>
    public async Task<JsonElement> SendAsync(string method, JsonObject? parameters = null)
    {
        var id = Interlocked.Increment(ref _nextId);
        var answer = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = answer;
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() };
        await _socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, CancellationToken.None);
        return await answer.Task.WaitAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>Opens <paramref name="url"/> and waits until the document has loaded.</summary>
    public async Task NavigateAsync(string url)
    {
        var result = await SendAsync("Page.navigate", new JsonObject { ["url"] = url });
        if (result.TryGetProperty("errorText", out var error))
        {
            throw new InvalidOperationException($"chromium could not open {url}: {error.GetString()}");
        }

        await WaitForAsync("document.readyState === 'complete'", TimeSpan.FromSeconds(30));
    }

    /// <summary>The value of <paramref name="expression"/> in the page (promises awaited), as JSON; a thrown exception throws here.</summary>
    public async Task<JsonElement> EvaluateAsync(string expression)
    {
        var result = await SendAsync("Runtime.evaluate", new JsonObject
        {
            ["expression"] = expression,
            ["returnByValue"] = true,
            ["awaitPromise"] = true,
        });
        if (result.TryGetProperty("exceptionDetails", out var exception))
        {
            throw new InvalidOperationException($"the page threw evaluating {expression}: {exception}");
        }

        var value = result.GetProperty("result");
        return value.TryGetProperty("value", out var v) ? v.Clone() : default;
    }

    /// <summary>Waits until <paramref name="expression"/> is true in the page.</summary>
    public async Task WaitForAsync(string expression, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var value = await EvaluateAsync($"!!({expression})");
            if (value.ValueKind == JsonValueKind.True)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                var text = await EvaluateAsync("document.body ? document.body.innerText.slice(0, 2000) : ''");
                throw new TimeoutException($"the page never had {expression}; errors: {string.Join(" | ", Errors)}; text: {text}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Saves a PNG of the whole page (1280 pixels wide, as tall as the document) to <paramref name="path"/>.</summary>
    public async Task ScreenshotAsync(string path)
    {
        var height = (await EvaluateAsync("Math.ceil(document.documentElement.scrollHeight)")).GetInt32();
        await SendAsync("Emulation.setDeviceMetricsOverride", new JsonObject
        {
            ["width"] = 1280,
            ["height"] = Math.Clamp(height, 600, 8000),
            ["deviceScaleFactor"] = 1,
            ["mobile"] = false,
        });
        var shot = await SendAsync("Page.captureScreenshot", new JsonObject { ["format"] = "png" });
        await SendAsync("Emulation.clearDeviceMetricsOverride");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllBytesAsync(path, Convert.FromBase64String(shot.GetProperty("data").GetString()!));
    }

    private async Task ReceiveAsync()
    {
        var buffer = new byte[1 << 16];
        using var message = new MemoryStream();
        while (_socket.State == WebSocketState.Open && !_stop.IsCancellationRequested)
        {
            WebSocketReceiveResult part;
            try
            {
                part = await _socket.ReceiveAsync(buffer, _stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException)
            {
                Fail(e);
                return;
            }

            if (part.MessageType == WebSocketMessageType.Close)
            {
                Fail(new InvalidOperationException("chromium closed the DevTools connection"));
                return;
            }

            message.Write(buffer, 0, part.Count);
            if (!part.EndOfMessage)
            {
                continue;
            }

            using (var document = JsonDocument.Parse(message.ToArray()))
            {
                Dispatch(document.RootElement);
            }

            message.SetLength(0);
        }
    }

    private void Dispatch(JsonElement message)
    {
        if (message.TryGetProperty("id", out var id))
        {
            if (_pending.TryRemove(id.GetInt32(), out var answer))
            {
                if (message.TryGetProperty("error", out var error))
                {
                    answer.SetException(new InvalidOperationException($"DevTools error: {error}"));
                }
                else
                {
                    answer.SetResult(message.GetProperty("result").Clone());
                }
            }

            return;
        }

        var parameters = message.TryGetProperty("params", out var p) ? p : default;
        switch (message.GetProperty("method").GetString())
        {
            case "Runtime.consoleAPICalled" when parameters.GetProperty("type").GetString() is "error" or "assert":
                AddError("console: " + string.Join(' ', parameters.GetProperty("args").EnumerateArray()
                    .Select(a => a.TryGetProperty("value", out var v) ? v.ToString() : a.TryGetProperty("description", out var d) ? d.GetString() : a.ToString())));
                break;
            case "Runtime.exceptionThrown":
                AddError("exception: " + parameters.GetProperty("exceptionDetails"));
                break;
            case "Log.entryAdded" when parameters.GetProperty("entry").GetProperty("level").GetString() == "error":
                var entry = parameters.GetProperty("entry");
                AddError($"log ({entry.GetProperty("source").GetString()}): {entry.GetProperty("text").GetString()} {(entry.TryGetProperty("url", out var url) ? url.GetString() : "")}");
                break;
            case "Network.requestWillBeSent":
                var request = parameters.GetProperty("request");
                var headers = request.GetProperty("headers");
                var authorization = headers.EnumerateObject().FirstOrDefault(h => h.Name.Equals("Authorization", StringComparison.OrdinalIgnoreCase));
                lock (_requests)
                {
                    _requests.Add((request.GetProperty("url").GetString()!, authorization.Value.ValueKind == JsonValueKind.String ? authorization.Value.GetString() : null));
                }

                break;
        }
    }

    private void AddError(string text)
    {
        lock (_errors)
        {
            _errors.Add(text);
        }
    }

    private void Fail(Exception e)
    {
        foreach (var id in _pending.Keys)
        {
            if (_pending.TryRemove(id, out var answer))
            {
                answer.TrySetException(e);
            }
        }
    }

    private void Append(string line)
    {
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _socket?.Dispose();
        await _receiving;
        await _process.DisposeAsync();
        _stop.Dispose();
        try
        {
            Directory.Delete(_profile, recursive: true);
        }
        catch (IOException)
        {
            // best effort: Chromium may still be writing its profile as it exits; a leftover temp folder fails nothing
        }
    }
}
