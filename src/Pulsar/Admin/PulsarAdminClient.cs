using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sync.Pulsar.Admin;

/// <summary>
/// The Pulsar admin REST API (v2) for what sync needs: topics of a namespace, partitioned
/// metadata, create and delete, compaction and its status, truncation, retention.
/// Topic arguments take any form <see cref="TopicName.Normalize"/> accepts.
/// </summary>
public sealed class PulsarAdminClient : IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly HttpClient _http;

    public PulsarAdminClient(PulsarAdminOptions options, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        _http.BaseAddress = options.ServiceUrl;
        _http.Timeout = options.RequestTimeout;
        if (options.AuthenticationToken is { } token)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
    }

    /// <summary>Full names of the persistent topics of <c>tenant/namespace</c>, partitions included.</summary>
    public async Task<IReadOnlyList<string>> ListTopicsAsync(string tenantNamespace, CancellationToken cancellationToken = default) =>
        await GetJsonAsync<string[]>($"admin/v2/persistent/{Namespace(tenantNamespace)}", "list topics", cancellationToken) ?? [];

    /// <summary>Base names of the partitioned topics of <c>tenant/namespace</c>.</summary>
    public async Task<IReadOnlyList<string>> ListPartitionedTopicsAsync(string tenantNamespace, CancellationToken cancellationToken = default) =>
        await GetJsonAsync<string[]>($"admin/v2/persistent/{Namespace(tenantNamespace)}/partitioned", "list partitioned topics", cancellationToken) ?? [];

    /// <summary>Partition count of a topic; 0 when it is not partitioned.</summary>
    public async Task<int> GetPartitionCountAsync(string topic, CancellationToken cancellationToken = default) =>
        (await GetJsonAsync<PartitionedMetadata>($"{TopicPath(topic)}/partitions", "get partitioned metadata", cancellationToken))?.Partitions ?? 0;

    /// <summary>Creates a topic: non-partitioned when <paramref name="partitions"/> is 0.</summary>
    public Task CreateTopicAsync(string topic, int partitions = 0, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(partitions);
        return partitions == 0
            ? SendAsync(HttpMethod.Put, TopicPath(topic), null, "create topic", cancellationToken)
            : SendAsync(HttpMethod.Put, $"{TopicPath(topic)}/partitions", JsonContent.Create(partitions), "create partitioned topic", cancellationToken);
    }

    /// <summary>Deletes a topic; <paramref name="force"/> also closes its producers and consumers.</summary>
    public Task DeleteTopicAsync(string topic, bool force = false, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, $"{TopicPath(topic)}?force={(force ? "true" : "false")}", null, "delete topic", cancellationToken);

    /// <summary>
    /// Starts compaction. It runs in the background on the broker: poll
    /// <see cref="GetCompactionStatusAsync"/>. A compaction already running answers HTTP 409.
    /// </summary>
    public Task TriggerCompactionAsync(string topic, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Put, $"{TopicPath(topic)}/compaction", null, "trigger compaction", cancellationToken);

    public async Task<CompactionStatus> GetCompactionStatusAsync(string topic, CancellationToken cancellationToken = default)
    {
        var body = await GetJsonAsync<CompactionStatusBody>($"{TopicPath(topic)}/compaction", "get compaction status", cancellationToken)
            ?? throw new PulsarAdminException(HttpStatusCode.OK, "get compaction status", "empty answer");
        var state = body.Status switch
        {
            "NOT_RUN" => CompactionState.NotRun,
            "RUNNING" => CompactionState.Running,
            "SUCCESS" => CompactionState.Success,
            "ERROR" => CompactionState.Error,
            _ => throw new PulsarAdminException(HttpStatusCode.OK, "get compaction status", $"unknown status '{body.Status}'"),
        };
        return new CompactionStatus(state, string.IsNullOrEmpty(body.LastError) ? null : body.LastError);
    }

    /// <summary>
    /// Triggers compaction and polls its status until it is done, failing on ERROR with the
    /// broker's lastError.
    /// </summary>
    public async Task CompactAndWaitAsync(string topic, TimeSpan pollInterval, CancellationToken cancellationToken = default)
    {
        await TriggerCompactionAsync(topic, cancellationToken);
        while (true)
        {
            var status = await GetCompactionStatusAsync(topic, cancellationToken);
            switch (status.State)
            {
                case CompactionState.Success:
                    return;
                case CompactionState.Error:
                    throw new PulsarAdminException(HttpStatusCode.OK, $"compaction of {topic}", status.LastError ?? "unknown error");
            }
            await Task.Delay(pollInterval, cancellationToken);
        }
    }

    /// <summary>
    /// Truncates a topic: every cursor moves to the end and inactive ledgers are deleted. The
    /// ledger being written is not deleted, so its messages stay on the broker until retention.
    /// </summary>
    public Task TruncateAsync(string topic, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, $"{TopicPath(topic)}/truncate", null, "truncate topic", cancellationToken);

    /// <summary>The topic's own retention policy, or null when it has none (the namespace's applies).</summary>
    public Task<RetentionPolicy?> GetTopicRetentionAsync(string topic, CancellationToken cancellationToken = default) =>
        GetJsonAsync<RetentionPolicy>($"{TopicPath(topic)}/retention", "get topic retention", cancellationToken);

    public Task SetTopicRetentionAsync(string topic, RetentionPolicy policy, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"{TopicPath(topic)}/retention", JsonContent.Create(policy), "set topic retention", cancellationToken);

    public Task RemoveTopicRetentionAsync(string topic, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, $"{TopicPath(topic)}/retention", null, "remove topic retention", cancellationToken);

    public Task<RetentionPolicy?> GetNamespaceRetentionAsync(string tenantNamespace, CancellationToken cancellationToken = default) =>
        GetJsonAsync<RetentionPolicy>($"admin/v2/namespaces/{Namespace(tenantNamespace)}/retention", "get namespace retention", cancellationToken);

    public Task SetNamespaceRetentionAsync(string tenantNamespace, RetentionPolicy policy, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"admin/v2/namespaces/{Namespace(tenantNamespace)}/retention", JsonContent.Create(policy), "set namespace retention", cancellationToken);

    /// <summary>The topic's own compaction threshold (backlog bytes that trigger compaction; 0 turns
    /// automatic compaction off), or null when it has none (the namespace's applies).</summary>
    public Task<long?> GetTopicCompactionThresholdAsync(string topic, CancellationToken cancellationToken = default) =>
        GetJsonAsync<long?>($"{TopicPath(topic)}/compactionThreshold", "get topic compaction threshold", cancellationToken);

    public Task SetTopicCompactionThresholdAsync(string topic, long bytes, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"{TopicPath(topic)}/compactionThreshold", JsonContent.Create(bytes), "set topic compaction threshold", cancellationToken);

    /// <summary>The namespace's compaction threshold, or null when none is set (the broker's
    /// <c>brokerServiceCompactionThresholdInBytes</c> applies, 0 unless changed).</summary>
    public Task<long?> GetNamespaceCompactionThresholdAsync(string tenantNamespace, CancellationToken cancellationToken = default) =>
        GetJsonAsync<long?>($"admin/v2/namespaces/{Namespace(tenantNamespace)}/compactionThreshold", "get namespace compaction threshold", cancellationToken);

    public Task SetNamespaceCompactionThresholdAsync(string tenantNamespace, long bytes, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Put, $"admin/v2/namespaces/{Namespace(tenantNamespace)}/compactionThreshold", JsonContent.Create(bytes), "set namespace compaction threshold", cancellationToken);

    /// <summary>A subscription's mark-delete position (everything up to it is acknowledged), from the
    /// topic's internal stats; null when the topic or the subscription does not exist.</summary>
    public async Task<MessageId?> GetMarkDeletePositionAsync(string topic, string subscription, CancellationToken cancellationToken = default)
    {
        using var json = await GetInternalStatsAsync(topic, cancellationToken);
        if (json is null
            || !json.RootElement.TryGetProperty("cursors", out var cursors)
            || !cursors.TryGetProperty(subscription, out var cursor)
            || !cursor.TryGetProperty("markDeletePosition", out var position)
            || position.GetString()?.Split(':') is not [var ledger, var entry])
        {
            return null;
        }

        return new MessageId(
            (ulong)long.Parse(ledger, System.Globalization.CultureInfo.InvariantCulture),
            (ulong)long.Parse(entry, System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>The entries of each retained ledger of a topic (or of one partition, named
    /// <c>...-partition-N</c>: each partition is a topic of its own), oldest first, from the topic's
    /// internal stats; null when the topic does not exist. The broker lists the ledger being written
    /// last with <c>entries</c> 0, since a ledger's count is recorded when it closes; its count is
    /// <c>currentLedgerEntries</c>, used for it here. See PersistentTopic.getInternalStats and
    /// ManagedLedgerInternalStats in https://github.com/apache/pulsar
    /// (pulsar-broker/src/main/java/org/apache/pulsar/broker/service/persistent/PersistentTopic.java,
    /// pulsar-client-admin-api/src/main/java/org/apache/pulsar/common/policies/data/ManagedLedgerInternalStats.java)
    /// and https://pulsar.apache.org/docs/next/admin-api-topics/#get-internal-stats.</summary>
    public async Task<IReadOnlyList<(long LedgerId, long Entries)>?> GetLedgerEntriesAsync(string topic, CancellationToken cancellationToken = default)
    {
        using var json = await GetInternalStatsAsync(topic, cancellationToken);
        if (json is null || !json.RootElement.TryGetProperty("ledgers", out var ledgers) || ledgers.ValueKind != JsonValueKind.Array)
        {
            return null;
        }

        var entries = ledgers.EnumerateArray().Select(l => (l.GetProperty("ledgerId").GetInt64(), l.TryGetProperty("entries", out var n) ? n.GetInt64() : 0)).ToList();
        if (entries.Count > 0 && json.RootElement.TryGetProperty("currentLedgerEntries", out var current))
        {
            entries[^1] = (entries[^1].Item1, current.GetInt64());
        }

        return entries;
    }

    /// <summary>The topic's internal stats, or null when the topic does not exist.</summary>
    private async Task<JsonDocument?> GetInternalStatsAsync(string topic, CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync($"{TopicPath(topic)}/internalStats", cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await ThrowIfFailedAsync(response, "get internal stats", cancellationToken);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken));
    }

    /// <summary>Moves a subscription's cursor so that the message at <paramref name="position"/> is
    /// delivered next (the broker disconnects the subscription's consumers, which resubscribe).</summary>
    public Task ResetCursorAsync(string topic, string subscription, MessageId position, CancellationToken cancellationToken = default) =>
        SendAsync(
            HttpMethod.Post,
            $"{TopicPath(topic)}/subscription/{Uri.EscapeDataString(subscription)}/resetcursor",
            JsonContent.Create(new ResetCursorBody((long)position.LedgerId, (long)position.EntryId, position.Partition, position.BatchIndex)),
            "reset cursor",
            cancellationToken);

    private sealed record ResetCursorBody(
        [property: System.Text.Json.Serialization.JsonPropertyName("ledgerId")] long LedgerId,
        [property: System.Text.Json.Serialization.JsonPropertyName("entryId")] long EntryId,
        [property: System.Text.Json.Serialization.JsonPropertyName("partitionIndex")] int PartitionIndex,
        [property: System.Text.Json.Serialization.JsonPropertyName("batchIndex")] int BatchIndex);

    /// <summary><c>admin/v2/persistent/tenant/namespace/topic</c> for any accepted topic form.</summary>
    internal static string TopicPath(string topic)
    {
        var full = TopicName.Normalize(topic);
        const string scheme = "persistent://";
        if (!full.StartsWith(scheme, StringComparison.Ordinal))
        {
            throw new ArgumentException($"topic ({topic}) must be persistent", nameof(topic));
        }
        var parts = full[scheme.Length..].Split('/');
        if (parts.Length != 3)
        {
            throw new ArgumentException($"topic ({topic}) must be tenant/namespace/name", nameof(topic));
        }
        return $"admin/v2/persistent/{Uri.EscapeDataString(parts[0])}/{Uri.EscapeDataString(parts[1])}/{Uri.EscapeDataString(parts[2])}";
    }

    private static string Namespace(string tenantNamespace)
    {
        var parts = tenantNamespace.Split('/');
        if (parts.Length != 2 || parts.Any(string.IsNullOrWhiteSpace))
        {
            throw new ArgumentException($"namespace ({tenantNamespace}) must be tenant/namespace", nameof(tenantNamespace));
        }
        return $"{Uri.EscapeDataString(parts[0])}/{Uri.EscapeDataString(parts[1])}";
    }

    private async Task<T?> GetJsonAsync<T>(string path, string operation, CancellationToken cancellationToken)
    {
        using var response = await _http.GetAsync(path, cancellationToken);
        await ThrowIfFailedAsync(response, operation, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NoContent || response.Content.Headers.ContentLength == 0)
        {
            return default;
        }
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        return string.IsNullOrWhiteSpace(text) ? default : JsonSerializer.Deserialize<T>(text, Json);
    }

    private async Task SendAsync(HttpMethod method, string path, HttpContent? content, string operation, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        using var response = await _http.SendAsync(request, cancellationToken);
        await ThrowIfFailedAsync(response, operation, cancellationToken);
    }

    private static async Task ThrowIfFailedAsync(HttpResponseMessage response, string operation, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        var reason = body;
        try
        {
            // The broker explains failures as {"reason": "..."}.
            if (JsonSerializer.Deserialize<ErrorBody>(body, Json)?.Reason is { Length: > 0 } explained)
            {
                reason = explained;
            }
        }
        catch (JsonException)
        {
        }
        throw new PulsarAdminException(response.StatusCode, operation, string.IsNullOrWhiteSpace(reason) ? response.ReasonPhrase ?? "no reason given" : reason);
    }

    public void Dispose() => _http.Dispose();

    private sealed record PartitionedMetadata(int Partitions);

    private sealed record CompactionStatusBody(string Status, string? LastError);

    private sealed record ErrorBody(string? Reason);
}
