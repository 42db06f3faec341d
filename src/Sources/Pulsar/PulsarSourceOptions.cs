using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;

namespace Sync.Sources.Pulsar;

/// <summary>An Apache Pulsar cluster. Each materializer on it has one subscription over its
/// <c>topics</c> or <c>topicPattern</c>.</summary>
public sealed class PulsarSourceOptions : IValidatable, IReportsInsecureTransport, ITopicSourceOptions
{
    public const int MaxReceiverQueueSize = 1_000_000;

    [Required]
    [Description("The broker service URL: `pulsar://host:6650`, or `pulsar+ssl://host:6651` for TLS.")]
    public string ServiceUrl { get; set; } = string.Empty;

    [Description("The admin (web service) URL, `http://host:8080` or `https://…`. Needed by `sync erase` (compaction, topic listing), `sync status` and `sync dump`; not by `sync run`.")]
    public string? AdminUrl { get; set; }

    [Secret]
    [Description("Authentication token (JWT). Use `${PULSAR_TOKEN}`; never shown in messages. At most one of `token` and `tokenFile`.")]
    public string? Token { get; set; }

    [FilePath]
    [Description("File holding the token, read again at every connect so that a rotated token is picked up.")]
    public string? TokenFile { get; set; }

    [FilePath]
    [Description("PEM file of the CA certificate(s) that sign the brokers' certificates (instead of the system trust store).")]
    public string? TlsTrustCertsFile { get; set; }

    [Description("Check that the broker's certificate names the host connected to.")]
    public bool TlsHostnameVerification { get; set; } = true;

    [Description("Accept any broker certificate. For tests only.")]
    public bool TlsAllowInsecureConnection { get; set; }

    [Description("Subscription name. Default: `sync-<materializer>`, one subscription per materializer.")]
    public string? Subscription { get; set; }

    [Description("`failover` (default: one active process, order kept), `exclusive`, `shared` or `key-shared` (scale-out with per-key order).")]
    public PulsarSubscriptionType SubscriptionType { get; set; } = PulsarSubscriptionType.Failover;

    [Description("Where a new subscription starts: `earliest` (default) or `latest`. An existing subscription resumes where it is.")]
    public PulsarInitialPosition InitialPosition { get; set; } = PulsarInitialPosition.Earliest;

    [Description("Read the topic's compacted view (only the latest message per key up to the compaction horizon). Not with shared or key-shared.")]
    public bool ReadCompacted { get; set; }

    [Description("How messages carry key and value: `auto` (default: from the topic's schema at each message's schema version — KEY_VALUE with `kv.encoding.type` INLINE means key and value inside the payload, as Pulsar IO writes with `json-with-envelope: true`), `inline`, `separated` or `none` (payload = value, key = message key) for brokers that keep no schemas.")]
    public PulsarKeyValueEncoding KeyValueEncoding { get; set; } = PulsarKeyValueEncoding.Auto;

    [Description("Messages the broker may push ahead of the materializer per topic partition (flow permits); bounds memory.")]
    public int ReceiverQueueSize { get; set; } = 1000;

    [Description("How often a `topicPattern` lists its namespace for topics created after the start.")]
    public TimeSpan PatternDiscoveryInterval { get; set; } = TimeSpan.FromSeconds(30);

    [Description("Namespaces (`tenant/namespace`) whose topics erasure, status and dump list through the admin API; the materializer's topics or pattern then picks among them.")]
    public List<string> Namespaces { get; set; } = ["public/default"];

    [Description("How often a compaction's status is polled while erasure waits for it.")]
    public TimeSpan CompactionPollInterval { get; set; } = TimeSpan.FromSeconds(1);

    [Description("How long a compacted read waits for more once nothing arrives: the compacted view may end before the topic's last message (a tombstone compaction removed).")]
    public TimeSpan CompactedReadIdle { get; set; } = TimeSpan.FromSeconds(1);

    [Description("How long a materializer keeps retrying its first subscription while the broker cannot be reached or is not ready (a broker restarting as sync starts); 0 fails at once.")]
    public TimeSpan SubscribeRetryTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <inheritdoc/>
    public IReadOnlyList<string> InsecureTransport(string path)
    {
        var warnings = new List<string>();
        if (TlsAllowInsecureConnection)
        {
            warnings.Add($"{path}.tlsAllowInsecureConnection is true: the broker certificate is not checked");
        }

        if (!TlsHostnameVerification)
        {
            warnings.Add($"{path}.tlsHostnameVerification is false: the broker certificate may name another host");
        }

        return warnings;
    }

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        if (ServiceUrl.Length > 0
            && (!Uri.TryCreate(ServiceUrl, UriKind.Absolute, out var service) || service.Scheme is not ("pulsar" or "pulsar+ssl") || service.Host.Length == 0))
        {
            problems.Add($"{path}.serviceUrl ({ServiceUrl}) must be a pulsar://host:port or pulsar+ssl://host:port URL");
        }

        if (AdminUrl is { Length: > 0 }
            && (!Uri.TryCreate(AdminUrl, UriKind.Absolute, out var admin) || admin.Scheme is not ("http" or "https") || admin.Host.Length == 0))
        {
            problems.Add($"{path}.adminUrl ({AdminUrl}) must be an http:// or https:// URL");
        }

        if (Token is not null && TokenFile is not null)
        {
            problems.Add($"{path}.tokenFile ({TokenFile}): set token or tokenFile, not both");
        }

        if (Subscription is not null && string.IsNullOrWhiteSpace(Subscription))
        {
            problems.Add($"{path}.subscription ({Subscription}) must not be blank");
        }

        if (ReadCompacted && SubscriptionType is PulsarSubscriptionType.Shared or PulsarSubscriptionType.KeyShared)
        {
            problems.Add($"{path}.readCompacted (true) needs subscriptionType failover or exclusive, not {Kebab(SubscriptionType)}");
        }

        problems.MustBeBetween($"{path}.receiverQueueSize", ReceiverQueueSize, 1, MaxReceiverQueueSize);
        problems.MustBePositive($"{path}.patternDiscoveryInterval", PatternDiscoveryInterval);
        problems.MustBePositive($"{path}.compactionPollInterval", CompactionPollInterval);
        problems.MustNotBeNegative($"{path}.subscribeRetryTimeout", SubscribeRetryTimeout);
        problems.MustBePositive($"{path}.compactedReadIdle", CompactedReadIdle);

        for (var i = 0; i < Namespaces.Count; i++)
        {
            var parts = Namespaces[i].Split('/');
            if (parts.Length != 2 || parts.Any(p => p.Length == 0 || p.Trim() != p))
            {
                problems.Add($"{path}.namespaces[{i}] ({Namespaces[i]}) must be tenant/namespace");
            }
        }

        return problems;
    }

    public IReadOnlyList<string> CheckTopics(string path, IReadOnlyList<string>? topics, string? topicPattern) => ValidateTopics(path, topics, topicPattern);

    public string? UnorderedBecause => SubscriptionType is PulsarSubscriptionType.Shared or PulsarSubscriptionType.KeyShared
        ? $"subscriptionType {Kebab(SubscriptionType)} spreads a topic's messages over several consumers"
        : null;

    /// <summary>Problems of a materializer's topic selection on a Pulsar source. A pattern must
    /// begin with a literal <c>persistent://tenant/namespace/</c>: that namespace is the one listed
    /// for new topics.</summary>
    /// <param name="path">The materializer's path, e.g. <c>materializers.users</c>.</param>
    public static IReadOnlyList<string> ValidateTopics(string path, IReadOnlyList<string>? topics, string? topicPattern)
    {
        var problems = new List<string>();
        if (topicPattern is { Length: > 0 } && !TryNamespaceOf(topicPattern, out _))
        {
            problems.Add($"{path}.topicPattern ({topicPattern}) must begin with a literal persistent://tenant/namespace/ on a pulsar source: the namespace to list for new topics cannot be derived from it");
        }

        if (topics is not null)
        {
            for (var i = 0; i < topics.Count; i++)
            {
                if (topics[i].Contains("://", StringComparison.Ordinal) && !topics[i].StartsWith("persistent://", StringComparison.Ordinal))
                {
                    problems.Add($"{path}.topics[{i}] ({topics[i]}) must be a persistent:// topic on a pulsar source");
                }
            }
        }

        return problems;
    }

    /// <summary>The <c>tenant/namespace</c> a pattern's literal prefix names.</summary>
    public static bool TryNamespaceOf(string topicPattern, out string tenantNamespace)
    {
        tenantNamespace = string.Empty;
        const string domain = "persistent://";
        if (!topicPattern.StartsWith(domain, StringComparison.Ordinal))
        {
            return false;
        }

        var parts = topicPattern[domain.Length..].Split('/', 3);
        if (parts.Length != 3 || !IsLiteral(parts[0]) || !IsLiteral(parts[1]))
        {
            return false;
        }

        tenantNamespace = $"{parts[0]}/{parts[1]}";
        return true;
    }

    private static bool IsLiteral(string part) => part.Length > 0 && Regex.Escape(part) == part;

    internal static string Kebab(PulsarSubscriptionType type) => type == PulsarSubscriptionType.KeyShared ? "key-shared" : type.ToString().ToLowerInvariant();
}
