using System.Text.Json.Nodes;
using EsHttpMethod = Elastic.Transport.HttpMethod;

namespace Sync.Sinks.Elasticsearch;

/// <summary>
/// The bulk load of a shadow index (<see cref="ElasticsearchSinkOptions.BulkShadow"/>), the standard
/// practice of Elastic's "Tune for indexing speed"
/// (https://www.elastic.co/guide/en/elasticsearch/reference/current/tune-for-indexing-speed.html: "Disable
/// refresh interval" and "Disable replicas for initial loads"): a shadow index has no reader until the
/// swap, so while it fills it is not refreshed (<c>index.refresh_interval: -1</c>) and holds no replica
/// (<c>index.number_of_replicas: 0</c>, each document indexed once instead of once per copy). Both are
/// set with the update index settings API right after the sink created the index, before its first
/// document, and set back before the alias moves to it
/// (https://www.elastic.co/docs/api/elasticsearch/operation/operation-indices-put-settings: a null
/// value reverts a setting to its default).
/// The values set back are read from the index itself once created (<c>GET /{index}/_settings</c>), so
/// that a value from the target's options, an index template or the cluster's default comes back alike:
/// the index ends with the settings the guarded path would have left. Every read of the shadow before
/// the swap refreshes it explicitly (search, count, erase, truncate), so that refresh being off changes
/// no answer. A replica set back is built by the cluster after the swap is requested; until then the
/// primary serves every read.
/// </summary>
internal sealed partial class ElasticsearchWriter
{
    private const string RefreshIntervalSetting = "index.refresh_interval";
    private const string ReplicasSetting = "index.number_of_replicas";

    /// <summary>The shadow indices being bulk-loaded, by name: null until the sink created the index,
    /// then the index's own values of the two settings (null where it had none).</summary>
    private readonly Dictionary<string, BulkLoadSettings?> _bulkShadows = new(StringComparer.Ordinal);

    /// <summary>Marks a shadow index, not created yet, for a bulk load.</summary>
    private void BeginBulkLoad(string shadow) => _bulkShadows[shadow] = null;

    /// <summary>After the sink created <paramref name="index"/>: when it is a shadow to bulk-load, keeps
    /// its own values of the two settings and turns refresh and replicas off.</summary>
    private async Task PrepareBulkLoadAsync(string index, CancellationToken cancellationToken)
    {
        if (!_bulkShadows.TryGetValue(index, out var kept) || kept is not null)
        {
            return;
        }

        var read = await RawAsync(EsHttpMethod.GET, $"/{Uri.EscapeDataString(index)}/_settings?flat_settings=true", null, cancellationToken);
        if (read.Status is not (>= 200 and < 300) || read.Body?[index]?["settings"] is not JsonObject settings)
        {
            ThrowFor(read, $"reading the settings of the shadow index \"{index}\"");
            return;
        }

        _bulkShadows[index] = new BulkLoadSettings(settings[RefreshIntervalSetting]?.ToString(), settings[ReplicasSetting]?.ToString());
        await PutSettingsAsync(index, "-1", "0", "turning refresh and replicas off on the shadow index", cancellationToken);
    }

    /// <summary>Before the swap: sets the shadow's own values of the two settings back (nothing to do
    /// when it was not bulk-loaded or never created).</summary>
    private async Task EndBulkLoadAsync(string shadow, CancellationToken cancellationToken)
    {
        if (_bulkShadows.TryGetValue(shadow, out var kept) && kept is not null)
        {
            await PutSettingsAsync(shadow, kept.RefreshInterval, kept.Replicas, "setting refresh and replicas back on the shadow index", cancellationToken);
        }

        _bulkShadows.Remove(shadow);
    }

    private async Task PutSettingsAsync(string index, string? refreshInterval, string? replicas, string what, CancellationToken cancellationToken)
    {
        var body = new JsonObject
        {
            ["index"] = new JsonObject
            {
                ["refresh_interval"] = refreshInterval is null ? null : JsonValue.Create(refreshInterval),
                ["number_of_replicas"] = replicas is null ? null : JsonValue.Create(replicas),
            },
        };
        var response = await RawAsync(EsHttpMethod.PUT, $"/{Uri.EscapeDataString(index)}/_settings", body, cancellationToken);
        if (response.Status is not (>= 200 and < 300))
        {
            ThrowFor(response, $"{what} \"{index}\"");
        }
    }

    /// <param name="RefreshInterval">The index's <c>index.refresh_interval</c>, null when unset (the default, 1s).</param>
    /// <param name="Replicas">The index's <c>index.number_of_replicas</c>, null when unset.</param>
    private sealed record BulkLoadSettings(string? RefreshInterval, string? Replicas);
}
