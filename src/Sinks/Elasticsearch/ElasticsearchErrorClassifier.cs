using System.Text.RegularExpressions;

namespace Sync.Sinks.Elasticsearch;

/// <summary>What one bulk item's answer means for its change.</summary>
public enum ItemOutcome
{
    /// <summary>Written (2xx), or a delete of an absent document (404 <c>not_found</c>), whose tombstone was recorded.</summary>
    Applied,

    /// <summary>409 <c>version_conflict_engine_exception</c>: the index holds the same or a newer external version.</summary>
    Stale,

    /// <summary>429 or 5xx: resend this item after a backoff.</summary>
    Transient,

    /// <summary>This document cannot be written (mapping or parse error): reject the change, apply the rest.</summary>
    Poison,

    /// <summary>Security, a missing index, or anything not understood: stop the batch.</summary>
    Fatal,
}

/// <summary>Decides what Elasticsearch's answers mean
/// (https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-bulk and the error types of
/// the REST API). The reasons it returns name the index and the error type, never document values.</summary>
public static partial class ElasticsearchErrorClassifier
{
    /// <summary>Error types of a document that cannot be indexed as it is.</summary>
    private static readonly HashSet<string> PoisonTypes = new(StringComparer.Ordinal)
    {
        "document_parsing_exception",
        "mapper_parsing_exception",
        "strict_dynamic_mapping_exception",
        "illegal_argument_exception",
        "x_content_parse_exception",
        "parse_exception",
        "json_parse_exception",
        "mapper_exception",
        "invalid_index_name_exception",
        "action_request_validation_exception",
        "max_bytes_length_exceeded_exception",
    };

    /// <summary>
    /// <list type="bullet">
    /// <item>2xx, and 404 <c>not_found</c> of a delete without an error: <see cref="ItemOutcome.Applied"/>.</item>
    /// <item>409 <c>version_conflict_engine_exception</c>: <see cref="ItemOutcome.Stale"/> (never-regress at work).</item>
    /// <item>429 (<c>es_rejected_execution_exception</c>, a flood-stage disk block) and 5xx
    /// (<c>unavailable_shards_exception</c>, node disconnected, timeouts): <see cref="ItemOutcome.Transient"/>.</item>
    /// <item>400 with a mapping or parse error type: <see cref="ItemOutcome.Poison"/>.</item>
    /// <item>401/403 (security), 404 <c>index_not_found_exception</c> (auto-create disabled), anything else:
    /// <see cref="ItemOutcome.Fatal"/>.</item>
    /// </list>
    /// </summary>
    public static ItemOutcome ClassifyItem(int status, string? errorType)
    {
        if (status is >= 200 and < 300 || (status == 404 && errorType is null))
        {
            return ItemOutcome.Applied;
        }

        if (status == 409 && errorType == "version_conflict_engine_exception")
        {
            return ItemOutcome.Stale;
        }

        if (status == 429 || status >= 500)
        {
            return ItemOutcome.Transient;
        }

        if (status == 400 && errorType is not null && PoisonTypes.Contains(errorType))
        {
            return ItemOutcome.Poison;
        }

        return ItemOutcome.Fatal;
    }

    /// <summary>A whole request's answer: no HTTP answer at all (connection refused or reset, timeout),
    /// 429, 502, 503 and 504 are transient; everything else that is not 2xx is fatal.</summary>
    public static ErrorVerdict ClassifyRequest(int? status) => status switch
    {
        null => ErrorVerdict.Transient,
        429 or 502 or 503 or 504 => ErrorVerdict.Transient,
        _ => ErrorVerdict.Fatal,
    };

    /// <summary>Elasticsearch's reason without what could be personal data: the preview of a field's value
    /// that parse errors quote, and the document id (the key) where the reason quotes it.</summary>
    public static string Sanitize(string? reason, string? documentId)
    {
        if (string.IsNullOrEmpty(reason))
        {
            return "no reason given";
        }

        var text = Preview().Replace(reason, "Preview of field's value withheld");
        if (!string.IsNullOrEmpty(documentId))
        {
            // Elasticsearch quotes the id: "in document with id 'x'" and "[x]: version conflict".
            text = text.Replace("'" + documentId + "'", "'<id>'", StringComparison.Ordinal)
                .Replace("[" + documentId + "]", "[<id>]", StringComparison.Ordinal);
        }

        return text;
    }

    [GeneratedRegex(@"Preview of field's value: '.*?'(?=\s*(\(|$|\.|;))", RegexOptions.Singleline)]
    private static partial Regex Preview();
}
