using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Flywheel.Cache.Caches;
using Flywheel.Cache.Index;
using Flywheel.Cache.Nix;
using Flywheel.Cache.Promotion.FlakeHub;
using Flywheel.Cache.Promotion.Oci;

namespace Flywheel.Cache.Promotion;

/// <summary>
/// The promotion gate: checks a request, gathers the evidence from the cache, classifies, records the decision,
/// publishes through the publisher of the class and records where it went with its provenance. The same request
/// (credentials aside) is the same promotion: asking again returns the record, and retries a failed publication.
/// </summary>
public sealed class PromotionGate
{
    public const int MaxStorePaths = 64;
    private const int MaxClosure = 100_000;
    private static readonly TimeSpan StalePublishing = TimeSpan.FromMinutes(30);

    private readonly IPromotionStore _promotions;
    private readonly INarInfoStore _narInfos;
    private readonly IPinStore _pins;
    private readonly NarSource _nars;
    private readonly IReadOnlyList<IPromotionPublisher> _publishers;
    private readonly PromotionClassifier _classifier = new();
    private readonly TimeProvider _time;
    private readonly string _builderId;
    private readonly FlakeInspector? _flakes;

    /// <param name="flakes">Reads flake sources (FlakeHub releases); null: requests naming one are refused.</param>
    public PromotionGate(
        IPromotionStore promotions, INarInfoStore narInfos, IPinStore pins, NarSource nars, IReadOnlyList<IPromotionPublisher> publishers,
        TimeProvider time, string builderId, FlakeInspector? flakes = null)
    {
        _flakes = flakes;
        _promotions = promotions;
        _narInfos = narInfos;
        _pins = pins;
        _nars = nars;
        _publishers = publishers;
        _time = time;
        _builderId = builderId;
    }

    public async Task<PromotionRecord> PromoteAsync(CacheContext cache, PromotionRequest request, CancellationToken ct)
    {
        PolicyLoader.Parse(request.Policy); // a bad policy is refused before any Nix runs
        InspectedFlake? flake;
        (request, flake) = await ResolveFlakeAsync(request, ct).ConfigureAwait(false);
        var (paths, policy) = Validate(cache, request);
        var id = IdOf(request);
        var existing = await _promotions.GetPromotionAsync(id, ct).ConfigureAwait(false);
        if (existing is not null)
        {
            return await ResumeAsync(cache, request, existing, flake, ct).ConfigureAwait(false);
        }

        var evidence = await GatherAsync(cache, request, policy, paths, flake, ct).ConfigureAwait(false);
        var (image, notAnImage) = await InspectImageAsync(cache, evidence, ct).ConfigureAwait(false);
        if (image is Nix2ContainerImage description)
        {
            evidence = await WithLayerPathsAsync(cache, evidence, description, ct).ConfigureAwait(false);
        }

        var decision = _classifier.Classify(evidence, image is not null, notAnImage);
        var status = decision.Class switch
        {
            PromotionClass.Rejected => PromotionStatus.Rejected,
            PromotionClass.Mutable => PromotionStatus.Kept,
            _ when request.DryRun => PromotionStatus.WouldPublish,
            _ => PromotionStatus.Publishing,
        };
        var now = Now();
        var record = new PromotionRecord(
            id, cache.Id, status, decision.Class.ToName(), decision.Target, request.Repository, request.Revision,
            PromotionJson.Request(request), PromotionJson.Decision(decision), null, null, null,
            paths.Select(p => new PromotedPath(p.HashPart, p.FullPath)).ToList(), now, now);
        if (!await _promotions.TryCreatePromotionAsync(record, ct).ConfigureAwait(false))
        {
            return await _promotions.GetPromotionAsync(id, ct).ConfigureAwait(false) ?? record; // another gateway recorded it first
        }

        return status == PromotionStatus.Publishing ? await PublishAsync(cache, request, record, evidence, flake, ct).ConfigureAwait(false) : record;
    }

    /// <summary>
    /// A request naming a flake source: Nix reads it and evaluates the named outputs, whose store paths become the
    /// promoted ones (the rules then apply to them), and the source's NAR hash joins the request's identity.
    /// </summary>
    private async Task<(PromotionRequest Request, InspectedFlake? Flake)> ResolveFlakeAsync(PromotionRequest request, CancellationToken ct)
    {
        if (request.FlakeSource is null)
        {
            if (request.FlakeOutputs is { Count: > 0 })
            {
                throw CacheException.Invalid("flake outputs (flakeOutputs, --flake-output) need a flake source (flakeSource, --flake-source)");
            }

            return (request with { FlakeSourceNarHash = null }, null);
        }

        if (request.StorePaths.Count > 0)
        {
            throw CacheException.Invalid("with a flake source the promoted store paths are its outputs' (flakeOutputs, --flake-output): name no store paths");
        }

        var inspector = _flakes ?? throw new CacheException(CacheError.Unavailable, "this gateway cannot read flake sources");
        var flake = await inspector.InspectAsync(request.FlakeSource, request.FlakeOutputs ?? [], ct).ConfigureAwait(false);
        return (request with { StorePaths = flake.StorePaths, FlakeSourceNarHash = flake.NarHash }, flake);
    }

    /// <summary>The clock at the index's precision (milliseconds), so a record reads back as it was returned.</summary>
    private DateTimeOffset Now() => DateTimeOffset.FromUnixTimeMilliseconds(_time.GetUtcNow().ToUnixTimeMilliseconds());

    public Task<PromotionRecord?> GetAsync(string id, CancellationToken ct) => _promotions.GetPromotionAsync(id, ct);

    public Task<IReadOnlyList<PromotionRecord>> ListAsync(PromotionQuery query, CancellationToken ct) => _promotions.ListPromotionsAsync(query, ct);

    /// <summary>An existing promotion: returned as recorded, unless its publication failed (or was abandoned), which is retried.</summary>
    private async Task<PromotionRecord> ResumeAsync(CacheContext cache, PromotionRequest request, PromotionRecord existing, InspectedFlake? flake, CancellationToken ct)
    {
        var stale = existing.Status == PromotionStatus.Publishing && Now() - existing.UpdatedAt > StalePublishing;
        if (existing.Status != PromotionStatus.Failed && !stale)
        {
            return existing;
        }

        var claimed = existing with { Status = PromotionStatus.Publishing, Error = null, UpdatedAt = Now() };
        if (!await _promotions.TryUpdatePromotionAsync(claimed, existing.Status, ct).ConfigureAwait(false))
        {
            return await _promotions.GetPromotionAsync(existing.Id, ct).ConfigureAwait(false) ?? existing;
        }

        var (paths, policy) = Validate(cache, request);
        var evidence = await GatherAsync(cache, request, policy, paths, flake, ct).ConfigureAwait(false);
        return await PublishAsync(cache, request, claimed, evidence, flake, ct).ConfigureAwait(false);
    }

    private async Task<PromotionRecord> PublishAsync(
        CacheContext cache, PromotionRequest request, PromotionRecord record, PromotionEvidence evidence, InspectedFlake? flake, CancellationToken ct)
    {
        var target = PromotionTarget.Parse(record.Target);
        var publisher = _publishers.FirstOrDefault(p => p.Class == target.Class)
            ?? throw new CacheException(CacheError.Unavailable, $"no publisher for {target.Class.ToName()} is configured");
        var keys = evidence.Paths.Where(p => p.Info is not null)
            .SelectMany(p => Rules.Signatures.TrustedSigners(p.Info!, evidence.TrustedKeys)).Select(k => k.Name).Distinct().ToList();
        var mountFrom = target.IsOci ? await MountCandidatesAsync(target, ct).ConfigureAwait(false) : [];
        var job = new PublishJob(record.Id, cache, target, request, evidence.Paths, record.CreatedAt,
            subjects => ProvenanceStatement.Create(subjects, request, evidence.Paths, keys, _builderId, record.Id, record.CreatedAt, Now(), flake),
            mountFrom, evidence.Policy.Annotations ?? new Dictionary<string, string>(), flake);
        // Promoted paths are protected from retention before anything is published (and stay protected if publishing
        // fails and is retried): a published output must stay substitutable from the cache.
        foreach (var path in record.Paths)
        {
            await _pins.PinAsync(cache.Id, path.StorePathHash, $"promotion {record.Id}", Now(), ct).ConfigureAwait(false);
        }

        PromotionRecord done;
        try
        {
            var publication = await publisher.PublishAsync(job, ct).ConfigureAwait(false);
            done = record with
            {
                Status = PromotionStatus.Published,
                Provenance = Encoding.UTF8.GetString(publication.Provenance),
                Publication = PromotionJson.Publication(publication),
                UpdatedAt = Now(),
            };
        }
        catch (CacheException e)
        {
            done = record with { Status = PromotionStatus.Failed, Error = e.Message, UpdatedAt = Now() };
        }

        await _promotions.TryUpdatePromotionAsync(done, PromotionStatus.Publishing, CancellationToken.None).ConfigureAwait(false);
        return done;
    }

    private async Task<IReadOnlyList<string>> MountCandidatesAsync(PromotionTarget target, CancellationToken ct)
    {
        var earlier = await _promotions.ListPromotionsAsync(new PromotionQuery(Status: PromotionStatus.Published, Class: PromotionClass.OciImage.ToName(), Limit: 20), ct).ConfigureAwait(false);
        return earlier.Select(p => p.Target).OfType<string>().Select(PromotionTarget.Parse)
            .Where(t => t.Registry == target.Registry && t.Repository != target.Repository)
            .Select(t => t.Repository).Distinct().ToList();
    }

    private static (IReadOnlyList<StorePath> Paths, PromotionPolicy Policy) Validate(CacheContext cache, PromotionRequest request)
    {
        if (request.StorePaths.Count is 0 or > MaxStorePaths)
        {
            throw CacheException.Invalid($"a promotion names 1 to {MaxStorePaths} store paths, not {request.StorePaths.Count}");
        }

        var paths = new List<StorePath>();
        foreach (var text in request.StorePaths)
        {
            if (!StorePath.TryParse(text, cache.Record.StoreDir, out var path, out var error))
            {
                throw CacheException.Invalid($"{ClientText.Quote(text)} is not a store path of {cache.Record.StoreDir}: {error}");
            }

            if (!paths.Contains(path))
            {
                paths.Add(path);
            }
        }

        if (request.Target is not null)
        {
            PromotionTarget.Parse(request.Target);
        }

        foreach (var rebuild in request.Rebuilds)
        {
            if (!NixHash.TryParse(rebuild.NarHash, out _))
            {
                throw CacheException.Invalid($"rebuild check for {ClientText.Quote(rebuild.StorePath)}: {ClientText.Quote(rebuild.NarHash)} is not a sha256 NarHash");
            }
        }

        return (paths, PolicyLoader.Parse(request.Policy));
    }

    private async Task<PromotionEvidence> GatherAsync(
        CacheContext cache, PromotionRequest request, PromotionPolicy policy, IReadOnlyList<StorePath> paths, InspectedFlake? flake, CancellationToken ct)
    {
        var evidence = new List<PathEvidence>();
        foreach (var path in paths)
        {
            var record = await _narInfos.GetNarInfoAsync(cache.Id, path.HashPart, ct).ConfigureAwait(false);
            var info = record is null ? null : NarInfo.Parse(record.Text, cache.Record.StoreDir);
            var missing = info is null ? [] : await MissingFromClosureAsync(cache, info, ct).ConfigureAwait(false);
            var attribute = flake?.Outputs.FirstOrDefault(o => o.Paths.Values.Contains(path.FullPath, StringComparer.Ordinal))?.Attribute;
            evidence.Add(new PathEvidence(path, info, missing, attribute));
        }

        return new PromotionEvidence(request, policy, cache.SigningKey.PublicKey, evidence);
    }

    /// <summary>
    /// A nix2container description's layers are made of store paths when it is pushed: they and their closures must be
    /// in the cache too (the description names them, and its narinfo references them, but say so either way).
    /// </summary>
    private async Task<PromotionEvidence> WithLayerPathsAsync(CacheContext cache, PromotionEvidence evidence, Nix2ContainerImage image, CancellationToken ct)
    {
        var root = evidence.Paths[0];
        var layerPaths = image.StorePaths.Select(p => p.BaseName).Where(b => b != root.Path.BaseName).ToList();
        var missing = await MissingFromClosureAsync(cache, [root.Path.BaseName, .. root.MissingFromClosure], layerPaths, ct).ConfigureAwait(false);
        return evidence with { Paths = [root with { MissingFromClosure = [.. root.MissingFromClosure, .. missing] }] };
    }

    private Task<IReadOnlyList<string>> MissingFromClosureAsync(CacheContext cache, NarInfo root, CancellationToken ct) =>
        MissingFromClosureAsync(cache, [root.StorePath.BaseName], root.References, ct);

    /// <summary>
    /// Walks a closure by narinfo References from <paramref name="start"/> (base names), a level at a time with one
    /// batched lookup per level, skipping <paramref name="known"/>; returns the base names the cache lacks.
    /// </summary>
    private async Task<IReadOnlyList<string>> MissingFromClosureAsync(CacheContext cache, IEnumerable<string> known, IEnumerable<string> start, CancellationToken ct)
    {
        var seen = new HashSet<string>(known, StringComparer.Ordinal);
        var missing = new List<string>();
        var level = start.Where(seen.Add).ToList();
        while (level.Count > 0 && seen.Count < MaxClosure)
        {
            var hashes = level.ToDictionary(b => b[..StorePath.HashPartLength], StringComparer.Ordinal);
            var present = await _narInfos.FindNarInfosAsync(cache.Id, hashes.Keys, ct).ConfigureAwait(false);
            var next = new List<string>();
            foreach (var (hash, baseName) in hashes)
            {
                if (!present.Contains(hash))
                {
                    missing.Add(baseName);
                    continue;
                }

                var record = await _narInfos.GetNarInfoAsync(cache.Id, hash, ct).ConfigureAwait(false);
                if (record is not null)
                {
                    next.AddRange(record.References.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(seen.Add));
                }
            }

            level = next;
        }

        return missing;
    }

    /// <summary>The (single) output's image, if it is one; a broken image counts as no image (with why: the rules then decide).</summary>
    private async Task<(InspectedImage? Image, string? Problem)> InspectImageAsync(CacheContext cache, PromotionEvidence evidence, CancellationToken ct)
    {
        if (evidence.Paths.Count != 1 || evidence.Paths[0].Info is null)
        {
            return (null, null);
        }

        try
        {
            await using var nar = await _nars.OpenAsync(cache.Id, evidence.Paths[0].Path, ct).ConfigureAwait(false);
            return (await ImageInspector.InspectAsync(nar, ct).ConfigureAwait(false), null);
        }
        catch (CacheException e) when (e.Error is CacheError.Invalid or CacheError.NotFound)
        {
            return (null, e.Message);
        }
    }

    /// <summary><c>prm_</c> + 32 hex of the SHA-256 of the request's canonical JSON (credentials excluded).</summary>
    public static string IdOf(PromotionRequest request) =>
        "prm_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(PromotionJson.Request(request))))[..32];
}
