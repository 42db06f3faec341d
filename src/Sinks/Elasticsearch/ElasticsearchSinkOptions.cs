using System.ComponentModel;
using System.ComponentModel.DataAnnotations;

namespace Sync.Sinks.Elasticsearch;

/// <summary>When written documents become visible to search (the <c>refresh</c> parameter of <c>_bulk</c>).</summary>
public enum RefreshPolicy
{
    /// <summary><c>refresh=false</c>: visible after the index's next periodic refresh (default 1 s). Fastest; durability does not depend on it.</summary>
    None,

    /// <summary><c>refresh=wait_for</c>: the bulk returns once a refresh made the batch searchable.</summary>
    WaitFor,

    /// <summary><c>refresh=true</c>: forces a refresh of the touched shards after every batch (costly under load).</summary>
    Immediate,
}

/// <summary>Settings of the Elasticsearch sink. In the config:
/// <c>sinks: { search: { type: elasticsearch, urls: [https://es1:9200], apiKey: '${ES_API_KEY}', caFingerprint: '…' } }</c>.</summary>
public sealed class ElasticsearchSinkOptions : IValidatable, IReportsInsecureTransport
{
    /// <summary>Nodes to talk to, <c>http://</c> or <c>https://</c>. Required. Example: <c>https://es1:9200</c>.
    /// With more than one, requests fail over between them.</summary>
    [Required]
    [Description("Nodes to talk to, `http://` or `https://` URLs; with more than one, requests fail over. Example: `[https://es1:9200]`.")]
    public List<string> Urls { get; set; } = [];

    /// <summary>An API key, base64 of <c>id:api_key</c> as Elasticsearch returns it in <c>encoded</c>. Default none.
    /// Exclusive with <see cref="Username"/>.</summary>
    [Secret]
    [Description("API key (the `encoded` value: base64 of `id:api_key`). Exclusive with `username`. Default none.")]
    public string? ApiKey { get; set; }

    /// <summary>User for basic authentication. Default none.</summary>
    [Description("User for basic authentication; needs `password`. Default none.")]
    public string? Username { get; set; }

    /// <summary>Password for basic authentication. Default none.</summary>
    [Secret]
    [Description("Password for basic authentication. Default none.")]
    public string? Password { get; set; }

    /// <summary>SHA-256 fingerprint of the cluster's CA certificate (hex, colons allowed), as Elasticsearch prints
    /// it on first start: the server's chain is trusted when it contains that CA. Default none (the system trust store).</summary>
    [Description("SHA-256 fingerprint of the cluster's CA certificate (64 hex digits, colons allowed); the server is trusted when its chain holds that CA. Default none: the system trust store.")]
    public string? CaFingerprint { get; set; }

    /// <summary>Whether server certificates are validated. Default true; false accepts any certificate
    /// (only for throwaway test clusters: it allows a man in the middle).</summary>
    [Description("Validate server certificates. Default true; false accepts any certificate (test clusters only).")]
    public bool CertificateValidation { get; set; } = true;

    /// <summary>When batches become searchable. Default <see cref="RefreshPolicy.None"/>.</summary>
    [Description("When written documents become searchable: `none` (next periodic refresh), `wait-for` (the bulk waits for a refresh) or `immediate` (forces one). Default none.")]
    public RefreshPolicy Refresh { get; set; } = RefreshPolicy.None;

    /// <summary>Timeout of one request. Default 30 s.</summary>
    [Description("Timeout of one HTTP request. Default 30s.")]
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The index that holds checkpoints, one document per materializer. Default <c>sync-checkpoints</c>.</summary>
    [Description("Index holding the checkpoints, one document per materializer. Default `sync-checkpoints`.")]
    public string CheckpointIndex { get; set; } = "sync-checkpoints";

    /// <summary>The most document bytes one <c>_bulk</c> request carries; a batch over it is sent in
    /// several requests. Elastic's advice (https://www.elastic.co/guide/en/elasticsearch/reference/current/tune-for-indexing-speed.html,
    /// "Use bulk requests"): benchmark for the plateau, and stay below a couple tens of megabytes per
    /// request when several are in flight. Default 5 MiB (5242880), so that <see cref="BulkConcurrency"/>
    /// requests in flight stay near 20 MiB.</summary>
    [Description("Most document bytes in one `_bulk` request; a larger batch is split. 1024 to 104857600 (http.max_content_length). Default 5242880 (5 MiB).")]
    public int BulkBytes { get; set; } = DefaultBulkBytes;

    /// <summary>The default of <see cref="BulkBytes"/>: 5 MiB.</summary>
    public const int DefaultBulkBytes = 5 * 1024 * 1024;

    /// <summary>How many <c>_bulk</c> requests of one batch may be in flight at once, when the batch is
    /// over <see cref="BulkBytes"/>. The batch is partitioned by document id, so that all changes of a key
    /// go in one request sequence, in order. Default 4: one sender rarely uses a cluster's indexing
    /// capacity ("Use multiple workers/threads to send data to Elasticsearch", same page).</summary>
    [Description("How many `_bulk` requests of one batch may be in flight at once (a batch over `bulkBytes`, split by document id so that a key's changes stay in order). 1 to 64. Default 4.")]
    public int BulkConcurrency { get; set; } = 4;

    /// <summary>Whether <c>sync backfill --shadow</c> creates the shadow index for a bulk load:
    /// <c>index.refresh_interval: -1</c> and <c>index.number_of_replicas: 0</c> while it fills, both set
    /// back to the values the index was created with before the alias moves. The documents left are
    /// the same either way. Default false, as the PostgreSQL sink's <c>bulkShadow</c>.</summary>
    [Description("`backfill --shadow` fills the shadow index with refresh off (`refresh_interval: -1`) and no replicas, both set back to the index's own values before the alias swap; same documents either way. Default false.")]
    public bool BulkShadow { get; set; }

    /// <summary>How long the sink may go without a request before it asks the cluster who it is
    /// (<c>GET /</c>, its <c>cluster_uuid</c>), so that a node that stopped answering, or another cluster
    /// (one restored from a snapshot) answering at the same address, makes the materializers read
    /// their checkpoints back at once instead of at their next batch or periodic check. 0 = never.
    /// Default 5 s.</summary>
    [Description("How long the sink may go without a request before it asks the cluster `GET /` (its `cluster_uuid`), so that a node that stopped answering or another cluster at the same address is found at once; 0s = never. Default 5s.")]
    public TimeSpan IdleProbeInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Backoff for 429 and 5xx answers, of whole requests or of single bulk items (only the
    /// failed items are sent again). Default 8 attempts, 50 ms doubling to 2 s.</summary>
    [Description("Backoff for 429/5xx answers (only failed bulk items are resent): `maxAttempts` (default 8), `initialDelay` (50ms), `maxDelay` (2s).")]
    public RetryPolicy Retry { get; set; } = RetryPolicy.Default;

    /// <summary>Every problem at once, each naming the field path and the value (secrets never shown). Pure.</summary>
    /// <inheritdoc/>
    public IReadOnlyList<string> InsecureTransport(string path) => CertificateValidation
        ? []
        : [$"{path}.certificateValidation is false: any server certificate is accepted"];

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        if (Urls is null || Urls.Count == 0)
        {
            problems.Add($"{path}.urls (empty) must list at least one http:// or https:// URL");
        }
        else
        {
            for (var i = 0; i < Urls.Count; i++)
            {
                var url = Urls[i];
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || !string.IsNullOrEmpty(uri.UserInfo))
                {
                    var shown = Uri.TryCreate(url, UriKind.Absolute, out var withUser) && !string.IsNullOrEmpty(withUser.UserInfo) ? "a URL with credentials" : url;
                    problems.Add(FormattableString.Invariant($"{path}.urls[{i}] ({shown}) must be an http:// or https:// URL without credentials"));
                }
            }
        }

        if (!string.IsNullOrEmpty(ApiKey) && !string.IsNullOrEmpty(Username))
        {
            problems.Add($"{path}.apiKey: set either apiKey or username/password, not both");
        }

        if (!string.IsNullOrEmpty(Password) && string.IsNullOrEmpty(Username))
        {
            problems.Add($"{path}.password is set without a username: set both or neither");
        }

        if (!string.IsNullOrEmpty(Username) && string.IsNullOrEmpty(Password))
        {
            problems.Add($"{path}.username ({Username}) needs a password: set both or neither");
        }

        if (CaFingerprint is { } fingerprint)
        {
            var hex = fingerprint.Replace(":", string.Empty, StringComparison.Ordinal);
            if (hex.Length != 64 || !hex.All(char.IsAsciiHexDigit))
            {
                problems.Add($"{path}.caFingerprint ({fingerprint}) must be a SHA-256 fingerprint: 64 hex digits, colons allowed");
            }

            if (!CertificateValidation)
            {
                problems.Add($"{path}.caFingerprint: cannot be combined with certificateValidation: false");
            }
        }

        problems.MustBeWithin($"{path}.requestTimeout", RequestTimeout, zeroAllowed: false, TimeSpan.FromHours(1), "1ms and 1h");
        problems.MustBeWithin($"{path}.idleProbeInterval", IdleProbeInterval, zeroAllowed: true, TimeSpan.FromHours(1), "0s and 1h");

        if (string.IsNullOrEmpty(CheckpointIndex) || IndexNames.Problem(CheckpointIndex) is not null)
        {
            problems.Add($"{path}.checkpointIndex ({(string.IsNullOrEmpty(CheckpointIndex) ? "empty" : CheckpointIndex)}) {IndexNames.Problem(CheckpointIndex ?? string.Empty) ?? "must not be empty"}");
        }

        problems.MustBeBetween($"{path}.bulkBytes", BulkBytes, 1024, 100 * 1024 * 1024);
        problems.MustBeBetween($"{path}.bulkConcurrency", BulkConcurrency, 1, 64);
        problems.AddRange(RetryPolicy.ValidateSetting(Retry, path + ".retry"));

        return problems;
    }
}

/// <summary>The rules Elasticsearch applies to index and alias names.</summary>
internal static class IndexNames
{
    private static readonly char[] Forbidden = ['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'];

    /// <summary>Why a name cannot be an index name (lower case only; none of <c>\ / * ? " &lt; &gt; | , # :</c> or
    /// space; not starting with <c>- _ +</c>; not <c>.</c> or <c>..</c>; at most 255 bytes), or null.</summary>
    public static string? Problem(string name)
    {
        if (name.Length == 0)
        {
            return "must not be empty";
        }

        if (!name.Equals(name.ToLowerInvariant(), StringComparison.Ordinal))
        {
            return "must be lower case";
        }

        if (name.IndexOfAny(Forbidden) >= 0)
        {
            return "must not contain \\ / * ? \" < > | , # : or spaces";
        }

        if (name[0] is '-' or '_' or '+')
        {
            return "must not start with -, _ or +";
        }

        if (name is "." or "..")
        {
            return "must not be . or ..";
        }

        var bytes = System.Text.Encoding.UTF8.GetByteCount(name);
        return bytes > 255 ? string.Create(CultureInfo.InvariantCulture, $"must be at most 255 bytes (has {bytes})") : null;
    }
}
