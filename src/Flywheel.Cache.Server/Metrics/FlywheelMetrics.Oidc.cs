using Prometheus;

namespace Flywheel.Cache.Server.Metrics;

/// <summary>CI identity (OIDC) exchanges; issuers are those trust policies name (others count as <c>other</c>).</summary>
public sealed partial class FlywheelMetrics
{
    /// <summary><c>flywheel_oidc_exchanges_total{issuer,result}</c></summary>
    public Counter OidcExchanges { get; }

    /// <summary>One exchange: ok, or why it was refused (expired, wrong_audience, wrong_issuer, unknown_key, bad_signature, bad_algorithm, no_matching_policy, malformed, not_yet_valid, unavailable, error).</summary>
    public void RecordOidcExchange(string issuer, string result) => OidcExchanges.WithLabels(issuer, result).Inc();
}
