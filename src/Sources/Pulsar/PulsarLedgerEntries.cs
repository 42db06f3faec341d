using System.Text.Json;
using System.Text.Json.Serialization;
using Sync.Engine.Ledger;

namespace Sync.Sources.Pulsar;

/// <summary>The requests of a topic ledger, folded from its messages in topic order.
/// <para>Two kinds of message, each keyed by its request id, never by the subject's key or key
/// hash: <c>&lt;id&gt;</c> carries the request with its latest status, <c>&lt;id&gt;:revocation</c>
/// its revocation. Compaction keeps the latest message of each key, so every request survives it
/// with its latest status and its revocation, and a key erased, revoked and erased again keeps
/// both requests: the audit trail stays whole. A key of its own for the revocation means a status
/// written by an erasure that read the request before a concurrent revoke cannot wipe the
/// revocation out, nor a revocation the status. The active set (what is suppressed) is derived
/// here, by every reader; it is never a message of its own.</para>
/// <para>Two erasers of one key at the same moment may both record a request. Both are kept (the
/// list shows both); the key is one suppression, <see cref="FindActive"/> names the older, and a
/// revoke revokes every active request of the key.</para></summary>
internal sealed class PulsarLedgerEntries
{
    private const string RevocationSuffix = ":revocation";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    private readonly Dictionary<string, ErasureRequest> _requests = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Revocation> _revocations = new(StringComparer.Ordinal);

    public int Count => _requests.Count;

    /// <summary>Applies one message of the topic; messages that are not ledger entries (no key,
    /// an empty value, a payload that does not parse) are skipped, as no entry of ours is.</summary>
    public void Apply(PulsarMessage message)
    {
        if (message.Key is not { } key || message.IsNullValue || message.Data.IsEmpty || Parse(message.Data.Span) is not { } entry)
        {
            return;
        }

        if (key.EndsWith(RevocationSuffix, StringComparison.Ordinal))
        {
            if (entry.RevokedAt is { } at && DateTimeOffset.TryParse(at, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out _))
            {
                _revocations[entry.RequestId] = new Revocation(LedgerTime.Parse(at), entry.RevokedBy ?? string.Empty, entry.RevokeReason ?? string.Empty);
            }

            return;
        }

        try
        {
            _requests[entry.RequestId] = new ErasureRequest(
                entry.RequestId,
                entry.Subject,
                entry.KeyHash,
                LedgerTime.Parse(entry.RequestedAt),
                entry.RequestedBy,
                RequestStatusText.Parse(entry.Status),
                entry.CompletedAt is { } completed ? LedgerTime.Parse(completed) : null);
        }
        catch (FormatException)
        {
            // Not an entry this ledger wrote.
        }
    }

    public ErasureRequest? Get(string requestId) =>
        _requests.TryGetValue(requestId, out var request) ? WithRevocation(request) : null;

    /// <summary>The older active request of a key (two only when two erasers raced).</summary>
    public ErasureRequest? FindActive(string subject, string keyHash) =>
        ActiveOf(subject, keyHash).FirstOrDefault();

    public IEnumerable<ErasureRequest> ActiveOf(string subject, string keyHash) =>
        All().Where(r => r.IsActive && r.Subject == subject && r.KeyHash == keyHash);

    /// <summary>Every request, revoked ones included, oldest first (as the file ledger lists them).</summary>
    public IEnumerable<ErasureRequest> All() =>
        _requests.Values.Select(WithRevocation).OrderBy(r => LedgerTime.Format(r.RequestedAt), StringComparer.Ordinal).ThenBy(r => r.RequestId, StringComparer.Ordinal);

    public HashSet<(string Subject, string KeyHash)> Suppressed()
    {
        var suppressed = new HashSet<(string, string)>();
        foreach (var request in _requests.Values)
        {
            if (!_revocations.ContainsKey(request.RequestId))
            {
                suppressed.Add((request.Subject, request.KeyHash));
            }
        }

        return suppressed;
    }

    /// <summary>The message that records a request with its status.</summary>
    public static OutgoingMessage RequestMessage(ErasureRequest request) => new()
    {
        Key = request.RequestId,
        Data = JsonSerializer.SerializeToUtf8Bytes(
            new Entry(request.RequestId, request.Subject, request.KeyHash, LedgerTime.Format(request.RequestedAt), request.RequestedBy, RequestStatusText.Of(request.Status), request.CompletedAt is { } at ? LedgerTime.Format(at) : null, null, null, null),
            Json),
    };

    /// <summary>The message that revokes a request.</summary>
    public static OutgoingMessage RevocationMessage(ErasureRequest request, Revocation revocation) => new()
    {
        Key = request.RequestId + RevocationSuffix,
        Data = JsonSerializer.SerializeToUtf8Bytes(
            new Entry(request.RequestId, request.Subject, request.KeyHash, LedgerTime.Format(request.RequestedAt), request.RequestedBy, RequestStatusText.Of(request.Status), null, LedgerTime.Format(revocation.At), revocation.By, revocation.Reason),
            Json),
    };

    private ErasureRequest WithRevocation(ErasureRequest request) =>
        _revocations.TryGetValue(request.RequestId, out var revocation) ? request with { Revocation = revocation } : request;

    private static Entry? Parse(ReadOnlySpan<byte> data)
    {
        try
        {
            var entry = JsonSerializer.Deserialize<Entry>(data, Json);
            return entry is { RequestId.Length: > 0, Subject: not null, KeyHash: not null, RequestedAt: not null, RequestedBy: not null, Status: not null } ? entry : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The JSON of an entry: the request's fields, never the subject's key.</summary>
    private sealed record Entry(
        string RequestId,
        string Subject,
        string KeyHash,
        string RequestedAt,
        string RequestedBy,
        string Status,
        string? CompletedAt,
        string? RevokedAt,
        string? RevokedBy,
        string? RevokeReason);
}
