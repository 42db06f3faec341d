namespace Sync.Engine.Ledger;

/// <summary>How ledgers write times as text: UTC, milliseconds, ISO 8601, so that text order is time order.</summary>
public static class LedgerTime
{
    public static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public static DateTimeOffset Parse(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
}
