using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;

namespace Sync.Engine.Config;

/// <summary>One materializer: a source's topics, decoded with one format, written into one sink target.</summary>
public sealed class MaterializerOptions : IValidatable
{
    public const int MaxBatchSize = 100_000;

    public const int MaxReadAhead = 16;

    [Required]
    [Description("Name of the source (under `sources`) to read from.")]
    public string Source { get; set; } = string.Empty;

    [Description("Topics to read, as full names (`persistent://tenant/ns/topic`). Exactly one of `topics` and `topicPattern`.")]
    public List<string>? Topics { get; set; }

    [Description("A regular expression that topic names must match in full. Exactly one of `topics` and `topicPattern`.")]
    public string? TopicPattern { get; set; }

    [Description("Message format: `debezium-json` (the Debezium envelope, with or without schema) or `json` (plain rows, upsert by key).")]
    public string Format { get; set; } = "debezium-json";

    [Required]
    [Description("Name of the sink (under `sinks`) to write into.")]
    public string Sink { get; set; } = string.Empty;

    [Required]
    [Description("Target table (or key prefix, or index) in the sink.")]
    public string Table { get; set; } = string.Empty;

    [Description("Which columns reach the sink and under which names: `include`, `exclude`, `rename`.")]
    public ColumnsOptions? Columns { get; set; }

    [Description("Extra columns filled from the change: column name -> `topic`, `position`, `publishTime`, `eventTime`, `op`, `tsMs`, `source.<field>` or `property.<name>`.")]
    public Dictionary<string, string>? Metadata { get; set; }

    [Description("Fan-in: a tenant column that joins the key, taken from the topic name or the source block.")]
    public TenantOptions? Tenant { get; set; }

    [Description("Settings of the Debezium connector that wrote the topics: `unavailableValuePlaceholder`, `decimalHandlingMode`, `binaryHandlingMode`.")]
    public ConnectorOptions Connector { get; set; } = new();

    [Description("Key columns taken from the row when a message has no key (tables without a primary key).")]
    public List<string>? KeyColumns { get; set; }

    [Description("Most changes in one batch; a batch is applied in one transaction.")]
    public int BatchSize { get; set; } = 1000;

    /// <remarks>Messages already queued are always taken without waiting (a backlog makes big
    /// batches quickly); the linger only bounds the wait for messages still to come. 5 ms measured best for publish-to-commit latency (docs/benchmarks.md);
    /// 0 applies what is queued at once.</remarks>
    [Description("Longest wait for more messages once a batch has one and nothing more is queued.")]
    public TimeSpan Linger { get; set; } = TimeSpan.FromMilliseconds(5);

    /// <remarks>Receive, decode, map and collapse of the next batches overlap with the sink's apply of
    /// the current one; acknowledgement stays in order, after each batch committed. Memory: at most
    /// this many batches (of <c>batchSize</c>) wait, plus the one being read and the one being applied.</remarks>
    [Description("Batches read and decoded ahead while the sink applies the current one (a bounded channel between the stages); 0 reads the next batch only after the current one is acknowledged.")]
    public int ReadAhead { get; set; } = 1;

    /// <remarks>The check compares the sink's checkpoint with what this materializer committed; a
    /// busy materializer makes it before every batch, so this bounds the detection delay of an idle one
    /// only. Each check is one checkpoint read.</remarks>
    [Description("How often an idle `sync run` materializer reads its sink's checkpoint back to find a sink that went back in time (restored, failed over to a replica that was behind, restarted from an older snapshot or empty); a busy one checks before every batch.")]
    public TimeSpan RollbackCheckInterval { get; set; } = TimeSpan.FromSeconds(30);

    [Description("What `sync run` does when the sink holds no checkpoint of this materializer while its subscription has acknowledged messages (or the run committed some): `rebuild` replays from the earliest message the topics hold while running; `stop` stops the materializer with an error naming `sync backfill`. Default: `rebuild` for a redis sink, `stop` for the others.")]
    public EmptySinkHandling? OnEmptySink { get; set; }

    [Description("Publish the tombstone that Pulsar IO's Debezium source drops: `sync run` appends a tombstone with the exact key for an `op=d` event that is still its key's latest event once the reader has caught up with the end of the partition, so the delete's before-image leaves the compacted view at the next compaction; a value published in between and landed behind the tombstone is published again. Not in `sync backfill`.")]
    public bool RepairTombstones { get; set; }

    [FilePath]
    [Description("JSON Lines file that receives messages that cannot be decoded or applied, with the reason. Default: `<materializer>.deadletter.jsonl` next to the config file.")]
    public string? DeadLetter { get; set; }

    [Description("Where dead letters go: `topic` (`<topic>-sync-dlq` on the materializer's own Pulsar source, the default there unless `deadLetter` names a file) or `file` (`deadLetter`, the default for a file source) or `table` (a dead-letter table in the sink's own database, written in the batch's transaction; postgres and sqlite sinks).")]
    public DeadLetterKind? DeadLetterTarget { get; set; }

    [Description("What to do with PostgreSQL logical decoding messages (`op: m`): `skip` counts and skips them like heartbeats, transaction boundaries and schema changes; `keep` writes each as a row `{lsn, prefix, content, transactional}` keyed by `lsn` into this materializer's table (which then holds messages only: a row change reaching it is dead-lettered).")]
    public MessageHandling Messages { get; set; } = MessageHandling.Skip;

    [Description("This materializer's error policy; each key overrides the top-level `errors` one: `tolerance` (`all` or `none`) and `maxDeadLetters`.")]
    public ErrorsOptions? Errors { get; set; }

    /// <summary>The sink-specific <c>target:</c> settings, bound with the sink type's target options type.</summary>
    public object? Target { get; internal set; }

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        var hasTopics = Topics is { Count: > 0 };
        var hasPattern = !string.IsNullOrEmpty(TopicPattern);
        if (hasTopics == hasPattern)
        {
            problems.Add($"{path}.topics: exactly one of topics and topicPattern must be set");
        }

        if (hasPattern)
        {
            try
            {
                _ = new Regex(TopicPattern!, RegexOptions.None, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException e)
            {
                problems.Add($"{path}.topicPattern ({TopicPattern}) is not a valid regular expression: {e.Message}");
            }
        }

        if (Topics is not null)
        {
            for (var i = 0; i < Topics.Count; i++)
            {
                if (string.IsNullOrWhiteSpace(Topics[i]))
                {
                    problems.Add($"{path}.topics[{i}] must not be empty");
                }
            }
        }

        problems.MustBeBetween($"{path}.batchSize", BatchSize, 1, MaxBatchSize);
        problems.MustBeBetween($"{path}.linger", Linger, TimeSpan.Zero, TimeSpan.FromMinutes(1));
        problems.MustBeBetween($"{path}.rollbackCheckInterval", RollbackCheckInterval, TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1));
        problems.MustBeBetween($"{path}.readAhead", ReadAhead, 0, MaxReadAhead);

        if (Metadata is not null)
        {
            foreach (var (column, expression) in Metadata)
            {
                if (!MetadataFields.IsMetadata(expression))
                {
                    problems.Add($"{path}.metadata.{column} ({expression}) must be one of: {MetadataFields.List}");
                }
            }
        }

        if (KeyColumns is { Count: 0 })
        {
            problems.Add($"{path}.keyColumns must name at least one column when set");
        }

        foreach (var dropped in Columns?.Exclude?.Intersect(KeyColumns ?? [], StringComparer.Ordinal) ?? [])
        {
            problems.Add($"{path}.columns.exclude ({dropped}) names a key column; key columns cannot be dropped");
        }

        return problems;
    }

    /// <summary>How this materializer's messages are decoded: its key columns and its connector's settings.
    /// Every reader of its topics (run, dead-letter replay, erase, audit) decodes with these.</summary>
    public DecoderOptions DecoderOptions() => new()
    {
        KeyColumns = KeyColumns,
        UnavailableValuePlaceholder = Connector.UnavailableValuePlaceholder,
        BinaryHandlingMode = Connector.BinaryHandlingMode,
    };

    /// <summary>A predicate telling whether this materializer reads a topic.</summary>
    public Func<string, bool> TopicFilter()
    {
        if (Topics is { Count: > 0 } topics)
        {
            var set = new HashSet<string>(topics, StringComparer.Ordinal);
            return set.Contains;
        }

        var regex = new Regex($"^(?:{TopicPattern})$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        return regex.IsMatch;
    }
}

/// <summary>What a materializer does with logical decoding messages (<c>messages:</c>).</summary>
public enum MessageHandling
{
    /// <summary>Count and skip them.</summary>
    Skip,

    /// <summary>Write each as a row of the materializer's table.</summary>
    Keep,
}

/// <summary>What a materializer does with a sink that holds nothing of it while its subscription
/// has moved on (<c>onEmptySink:</c>).</summary>
public enum EmptySinkHandling
{
    /// <summary>Replay from the earliest message the topics hold, while running.</summary>
    Rebuild,

    /// <summary>Stop the materializer with an error naming <c>sync backfill</c>.</summary>
    Stop,
}
