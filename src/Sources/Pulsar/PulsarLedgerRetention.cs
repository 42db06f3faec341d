using System.Net;

namespace Sync.Sources.Pulsar;

/// <summary>Makes sure a ledger topic is never deleted by retention, and is compacted, before
/// anything is recorded on it. Through the admin API (apache/pulsar,
/// pulsar-broker/src/main/java/org/apache/pulsar/broker/admin/v2/PersistentTopics.java and
/// Namespaces.java):
/// <list type="bullet">
/// <item><c>GET /admin/v2/persistent/{tenant}/{namespace}/{topic}/retention</c> answers the topic's
/// own policy, or 204 without a body when it has none; <c>GET /admin/v2/namespaces/{tenant}/{namespace}/retention</c>
/// the namespace's. A topic policy overrides the namespace's, which overrides the broker's
/// (<c>defaultRetentionTimeInMinutes</c>, not readable here, 0 unless changed).</item>
/// <item><c>POST …/{topic}/retention</c> with <c>{"retentionTimeInMinutes":-1,"retentionSizeInMB":-1}</c>
/// sets it on the topic (204); -1 is unlimited. It answers 403 without admin permission, 404 when
/// the topic does not exist, 405 when topic-level policies are disabled on the broker.</item>
/// <item><c>GET|POST …/{topic}/compactionThreshold</c> and <c>GET /admin/v2/namespaces/{tenant}/{namespace}/compactionThreshold</c>:
/// backlog bytes past which the broker compacts the topic by itself; unset or 0 means never.</item>
/// </list>
/// Unlimited retention keeps every raw message, so the ledger survives even if compaction never
/// runs; compaction only keeps the read at start-up short (one message per request and revocation).</summary>
internal sealed class PulsarLedgerRetention(PulsarAdminClient admin, string topic)
{
    /// <summary>The threshold set on a ledger topic that has none: compact once 1 MiB (a few
    /// thousand entries) has been written since the last compaction.</summary>
    public const long CompactionThresholdBytes = 1024 * 1024;

    public async Task EnsureAsync(CancellationToken cancellationToken)
    {
        var tenantNamespace = string.Join('/', topic["persistent://".Length..].Split('/').Take(2));
        var step = "reading its retention";
        try
        {
            var retention = await admin.GetTopicRetentionAsync(topic, cancellationToken)
                ?? await admin.GetNamespaceRetentionAsync(tenantNamespace, cancellationToken);
            if (retention is not { RetentionTimeInMinutes: -1, RetentionSizeInMB: -1 })
            {
                step = $"setting unlimited retention (time -1, size -1) on it, where it was {Describe(retention)}";
                await admin.SetTopicRetentionAsync(topic, new RetentionPolicy(-1, -1), cancellationToken);
            }

            step = "reading its compaction threshold";
            var threshold = await admin.GetTopicCompactionThresholdAsync(topic, cancellationToken)
                ?? await admin.GetNamespaceCompactionThresholdAsync(tenantNamespace, cancellationToken);
            if (threshold is not > 0)
            {
                step = $"setting a compaction threshold of {CompactionThresholdBytes} bytes on it";
                await admin.SetTopicCompactionThresholdAsync(topic, CompactionThresholdBytes, cancellationToken);
            }
        }
        catch (Exception e) when (e is PulsarAdminException or HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            var advice = e is PulsarAdminException { StatusCode: HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized or HttpStatusCode.MethodNotAllowed }
                ? $"; give the source's token admin rights on the namespace, or set it yourself: pulsar-admin topics set-retention {topic} --time -1 --size -1 and pulsar-admin topics set-compaction-threshold {topic} --threshold 1M (or the same on the namespace)"
                : string.Empty;
            throw new SourceException($"the ledger topic {topic} is not safe to record on: {step} failed: {e.Message}{advice}. Nothing was recorded: a ledger that retention may delete would let erased subjects come back", e);
        }
    }

    private static string Describe(RetentionPolicy? policy) =>
        policy is null ? "unset (the broker default, 0 minutes unless changed)" : string.Create(CultureInfo.InvariantCulture, $"time {policy.RetentionTimeInMinutes} minutes, size {policy.RetentionSizeInMB} MB");
}
