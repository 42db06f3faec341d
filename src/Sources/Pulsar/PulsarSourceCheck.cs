namespace Sync.Sources.Pulsar;

/// <summary><c>sync check</c> of a Pulsar source: the broker answers and accepts the credentials,
/// each materializer's topics or pattern resolve, its subscription's state, each topic's schema
/// against <c>keyValueEncoding</c>, and retention and compaction with the advice of
/// <c>sync audit topics</c>.</summary>
public sealed class PulsarSourceCheck : IPreflightCheck
{
    /// <summary>Topics shown one by one per materializer; more are counted only.</summary>
    public const int MaxTopicsShown = 10;

    public async ValueTask<IReadOnlyList<CheckFinding>> CheckAsync(CheckScope scope, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scope);
        var name = scope.Component.Name;
        var options = (PulsarSourceOptions)scope.Component.Options;
        var findings = new List<CheckFinding>();
        await using var client = PulsarConnections.Client(options);

        var namespaces = options.Namespaces
            .Concat(scope.Materializers.SelectMany(m => m.Value.Topics ?? []).Select(NamespaceOf))
            .Distinct(StringComparer.Ordinal)
            .ToList();
        var existing = new List<string>();
        foreach (var ns in namespaces)
        {
            try
            {
                existing.AddRange(await client.GetTopicsOfNamespaceAsync(ns, cancellationToken));
            }
            catch (Exception e) when (e is PulsarException or IOException or System.Net.Sockets.SocketException or TimeoutException)
            {
                findings.Add(Unreachable(name, options, ns, e));
                return findings;
            }
        }

        findings.Add(CheckFinding.Ok("reachable", $"{options.ServiceUrl} answered{(options.Token is not null || options.TokenFile is not null ? " and accepted the token" : string.Empty)}; {Count(existing.Count, "topic")} in {string.Join(", ", namespaces)}"));

        var baseTopics = existing.Select(TopicName.BaseName).Distinct(StringComparer.Ordinal).ToList();
        PulsarAdminClient? admin = null;
        if (options.AdminUrl is null)
        {
            findings.Add(CheckFinding.Warning("admin API", "adminUrl is not set: subscription state, retention and compaction cannot be checked (and `sync erase`, `status` and `dump` need it)",
                $"set sources.{name}.adminUrl to the web service URL, e.g. http://broker:8080"));
        }
        else
        {
            admin = PulsarConnections.Admin(name, options, "the check of subscriptions");
        }

        await using var log = new PulsarTopicLog(name, options);
        using (admin)
        {
            var policiesReported = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (materializer, materializerOptions) in scope.Materializers)
            {
                var resolved = Resolve(materializer, materializerOptions, baseTopics, findings);
                foreach (var topic in resolved.Take(MaxTopicsShown))
                {
                    await CheckSchemaAsync(client, options, materializer, topic, findings, cancellationToken);
                    if (admin is not null)
                    {
                        await CheckSubscriptionAsync(admin, options, materializer, topic, existing, findings, cancellationToken);
                        if (policiesReported.Add(topic))
                        {
                            await CheckPoliciesAsync(log, topic, findings, cancellationToken);
                        }
                    }
                }
            }
        }

        return findings;
    }

    private static CheckFinding Unreachable(string name, PulsarSourceOptions options, string ns, Exception e) => e switch
    {
        AuthenticationException => CheckFinding.Error("reachable", $"{options.ServiceUrl} refused the credentials: {e.Message}",
            $"check sources.{name}.token or tokenFile: the token must be valid for this cluster and not expired"),
        AuthorizationException => CheckFinding.Error("authorised", $"{options.ServiceUrl} refused to list the topics of {ns}: {e.Message}",
            $"grant the token's role the consume permission on {ns} (pulsar-admin namespaces grant-permission), or fix sources.{name}.namespaces"),
        PulsarServerException server => CheckFinding.Error("reachable", $"{options.ServiceUrl} refused to list the topics of {ns}: {server.Message}",
            $"check that namespace {ns} exists and sources.{name}.namespaces names it"),
        _ => CheckFinding.Error("reachable", $"{options.ServiceUrl} cannot be reached: {e.Message}",
            $"check sources.{name}.serviceUrl, that the broker runs and that this host can reach it (for pulsar+ssl: tlsTrustCertsFile)"),
    };

    private static List<string> Resolve(string materializer, MaterializerOptions options, List<string> topics, List<CheckFinding> findings)
    {
        if (options.Topics is { Count: > 0 } listed)
        {
            var resolved = new List<string>();
            foreach (var topic in listed)
            {
                var full = TopicName.Normalize(topic);
                if (topics.Contains(full, StringComparer.Ordinal))
                {
                    resolved.Add(full);
                }
                else
                {
                    findings.Add(CheckFinding.Error($"topic {topic}", $"materializer {materializer} reads {full}, which does not exist",
                        $"fix materializers.{materializer}.topics, or start the connector that writes it (a broker that creates topics on subscribe would give an empty one)"));
                }
            }

            if (resolved.Count > 0)
            {
                findings.Add(CheckFinding.Ok("topics", $"materializer {materializer}: {Count(resolved.Count, "topic")} of {listed.Count} listed exist"));
            }

            return resolved;
        }

        var filter = options.TopicFilter();
        var matched = topics.Where(t => filter(t) || filter(TopicName.BaseName(t)) || filter(t["persistent://".Length..])).ToList();
        findings.Add(matched.Count == 0
            ? CheckFinding.Warning("topic pattern", $"materializer {materializer}: topicPattern {options.TopicPattern} matches no topic yet",
                $"check materializers.{materializer}.topicPattern against the topic names; topics created later are found within patternDiscoveryInterval")
            : CheckFinding.Ok("topic pattern", $"materializer {materializer}: topicPattern {options.TopicPattern} matches {Count(matched.Count, "topic")}{(matched.Count > MaxTopicsShown ? $" (the first {MaxTopicsShown} checked)" : string.Empty)}"));
        return matched;
    }

    private static async Task CheckSchemaAsync(PulsarClient client, PulsarSourceOptions options, string materializer, string topic, List<CheckFinding> findings, CancellationToken cancellationToken)
    {
        var schema = await client.GetSchemaAsync(topic, null, cancellationToken);
        var check = $"schema of {topic}";
        var encoding = schema?.Schema.Type == PulsarSchemaType.KeyValue ? schema.Schema.KeyValueEncoding : null;
        var described = schema is null ? "no schema" : encoding is { } kv ? $"KEY_VALUE, {kv.ToString().ToUpperInvariant()} encoding" : schema.Schema.Type.ToString().ToUpperInvariant();
        var configured = options.KeyValueEncoding;
        var mismatch = (configured, encoding) switch
        {
            (PulsarKeyValueEncoding.Auto, _) => false,
            (PulsarKeyValueEncoding.None, not null) => true,
            (PulsarKeyValueEncoding.Inline, KeyValueEncodingType.Separated) => true,
            (PulsarKeyValueEncoding.Separated, KeyValueEncodingType.Inline) => true,
            _ => false,
        };
        if (mismatch)
        {
            findings.Add(CheckFinding.Error(check, $"{described}, but keyValueEncoding is {configured.ToString().ToLowerInvariant()}: materializer {materializer} would decode key and value wrongly",
                "set keyValueEncoding: auto (each message's schema decides), or the encoding the topic's schema names"));
        }
        else
        {
            findings.Add(CheckFinding.Ok(check, $"{described}; keyValueEncoding {configured.ToString().ToLowerInvariant()} reads it"));
        }
    }

    private static async Task CheckSubscriptionAsync(PulsarAdminClient admin, PulsarSourceOptions options, string materializer, string topic, List<string> existing, List<CheckFinding> findings, CancellationToken cancellationToken)
    {
        var subscription = options.Subscription ?? $"sync-{materializer}";

        // A partitioned topic keeps a cursor per partition; the first partition stands for all.
        var probe = existing.Contains(topic, StringComparer.Ordinal) ? topic : existing.FirstOrDefault(t => TopicName.BaseName(t) == topic) ?? topic;
        var position = await admin.GetMarkDeletePositionAsync(probe, subscription, cancellationToken);
        // A cursor with nothing acknowledged marks entry -1 of its first ledger (ManagedCursorImpl).
        findings.Add(CheckFinding.Ok($"subscription {subscription}", position switch
        {
            null => $"does not exist on {probe} yet; the first run starts at the {options.InitialPosition.ToString().ToLowerInvariant()} message",
            { EntryId: ulong.MaxValue } => $"exists on {probe}; nothing acknowledged yet",
            { } at => string.Create(CultureInfo.InvariantCulture, $"exists on {probe}; acknowledged up to {at.LedgerId}:{at.EntryId}"),
        }));
    }

    private static async Task CheckPoliciesAsync(PulsarTopicLog log, string topic, List<CheckFinding> findings, CancellationToken cancellationToken)
    {
        TopicPolicies policies;
        try
        {
            policies = await log.ReadPoliciesAsync(topic, cancellationToken);
        }
        catch (Exception e) when (e is SourceException or HttpRequestException)
        {
            findings.Add(CheckFinding.Warning($"settings of {topic}", $"retention and compaction cannot be read: {e.Message}", "check adminUrl and that the token may read topic policies"));
            return;
        }

        var advice = TopicPolicyAdvice.Of(policies);
        var summary = $"retention {advice.Retention}; compaction {advice.Compaction}";
        if (advice.Advice.Count == 0)
        {
            findings.Add(CheckFinding.Ok($"settings of {topic}", summary));
        }

        foreach (var line in advice.Advice)
        {
            findings.Add(CheckFinding.Warning($"settings of {topic}", summary, line));
        }
    }

    private static string NamespaceOf(string topic)
    {
        var parts = TopicName.Normalize(topic)["persistent://".Length..].Split('/');
        return parts.Length == 3 ? $"{parts[0]}/{parts[1]}" : topic;
    }

    private static string Count(int n, string noun) => string.Create(CultureInfo.InvariantCulture, $"{n} {noun}{(n == 1 ? string.Empty : "s")}");
}
