namespace Flywheel.Cache.Tests.Infrastructure;

/// <summary>A clock that moves only when a test moves it.</summary>
public sealed class ManualTimeProvider : TimeProvider
{
    private DateTimeOffset _now;

    public ManualTimeProvider(DateTimeOffset start)
    {
        _now = start;
    }

    /// <summary>Starts at a fixed, millisecond-aligned instant.</summary>
    public ManualTimeProvider()
        : this(new DateTimeOffset(2026, 11, 22, 12, 0, 0, TimeSpan.Zero))
    {
    }

    public override DateTimeOffset GetUtcNow() => _now;

    /// <summary>Timestamps follow the manual clock too, so TTLs measured with GetTimestamp move only with <see cref="Advance"/>.</summary>
    public override long GetTimestamp() => _now.UtcTicks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public void Advance(TimeSpan by) => _now += by;

    public void SetUtcNow(DateTimeOffset now) => _now = now;
}
