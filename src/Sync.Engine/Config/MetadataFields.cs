namespace Sync.Engine.Config;

/// <summary>The message metadata a materializer's <c>metadata:</c> columns can be filled from.</summary>
public static class MetadataFields
{
    private static readonly string[] Fields =
    [
        "topic", "position", "publishTime", "eventTime", "op", "tsMs",
        "source.connector", "source.name", "source.db", "source.schema", "source.table", "source.lsn", "source.txId", "source.tsMs",
    ];

    /// <summary>The metadata a column can be filled from, for messages.</summary>
    public static string List => string.Join(", ", Fields) + ", property.<name>";

    public static bool IsMetadata(string expression) =>
        Fields.Contains(expression) || (expression.StartsWith("property.", StringComparison.Ordinal) && expression.Length > "property.".Length);
}
