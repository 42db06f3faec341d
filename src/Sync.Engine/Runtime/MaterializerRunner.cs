using Microsoft.Extensions.Logging;
using Sync.Engine.Changes;
using Sync.Engine.Config;
using Sync.Engine.Formats;
using Sync.Engine.Sinks;
using Sync.Engine.Sources;

namespace Sync.Engine.Runtime;

/// <summary>One materializer's loop: read a batch -> decode -> collapse per key -> apply with its
/// checkpoint -> acknowledge. What cannot be read, decoded or written goes to the dead-letter
/// target, flushed before the checkpoint that moves past it is stored.</summary>
public sealed partial class MaterializerRunner
{
    private readonly string _name;
    private readonly MaterializerOptions _options;
    private readonly ISourceReader _reader;
    private readonly IMessageDecoder _decoder;
    private readonly ISink _sink;
    private readonly IDeadLetterTarget _deadLetters;
    private readonly ILogger _logger;
    private readonly ChangeMapper _mapper;
    private readonly ISuppressionFilter _suppression;
    private readonly TombstoneRepair? _tombstoneRepair;

    public MaterializerRunner(
        string name,
        MaterializerOptions options,
        ISourceReader reader,
        IMessageDecoder decoder,
        ISink sink,
        IDeadLetterTarget deadLetters,
        ILogger logger,
        ISuppressionFilter? suppression = null,
        TombstoneRepair? tombstoneRepair = null)
    {
        _name = name;
        _options = options;
        _reader = reader;
        _decoder = decoder;
        _sink = sink;
        _deadLetters = deadLetters;
        _logger = logger;
        _mapper = new ChangeMapper(options);
        _suppression = suppression ?? NoSuppression.Instance;
        _tombstoneRepair = tombstoneRepair;
    }

    public MaterializerCounters Counters { get; } = new();

    /// <summary>Runs until the source ends or <paramref name="cancellationToken"/> fires. A batch
    /// already read when cancellation comes is still applied, so stopping loses nothing.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var target = new TargetSpec(_options.Table) { Options = _options.Target };
        while (!cancellationToken.IsCancellationRequested)
        {
            IReadOnlyList<SourceRecord>? records;
            try
            {
                records = await _reader.ReadBatchAsync(_options.BatchSize, _options.Linger, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }

            if (records is null)
            {
                break;
            }

            var changes = new List<ChangeEvent>(records.Count);
            var checkpoint = new Dictionary<string, StreamPosition>(_reader.Cursor, StringComparer.Ordinal);
            var deadLettered = 0;
            var suppressed = 0;
            foreach (var record in records)
            {
                if (record.Error is { } error)
                {
                    LogUnreadable(_logger, _name, error.Location, error.Reason);
                    _deadLetters.Add(error);
                    deadLettered++;
                    continue;
                }

                var message = record.Message!;
                checkpoint[message.Topic] = message.Position;
                if (TombstoneRepair.IsRepairTombstone(message))
                {
                    // Its op=d was applied already; see TombstoneRepair for why it is not applied again.
                    continue;
                }

                try
                {
                    var change = _mapper.Map(_decoder.Decode(message));
                    if (_suppression.IsSuppressed(change))
                    {
                        suppressed++;
                        continue;
                    }

                    changes.Add(change);
                    _tombstoneRepair?.Observe(message, change);
                }
                catch (DecodeException e)
                {
                    LogUndecodable(_logger, _name, message.Describe(), e.Message);
                    _deadLetters.Add("decode", message, e.Message);
                    deadLettered++;
                }
                catch (MapException e)
                {
                    LogUnmappable(_logger, _name, message.Describe(), e.Message);
                    _deadLetters.Add("map", message, e.Message);
                    deadLettered++;
                }
            }

            // Dead letters are durable before the checkpoint moves past their messages.
            await _deadLetters.FlushAsync(CancellationToken.None);

            var collapsed = Collapser.Collapse(changes);
            var batch = new SinkBatch(_name, target, collapsed, checkpoint)
            {
                BeforeCommit = rejections =>
                {
                    foreach (var rejected in rejections)
                    {
                        var origin = rejected.Change.Origin;
                        LogRejected(_logger, _name, $"{origin.Topic} @ {origin.Position}", rejected.Reason);
                        _deadLetters.Add("apply", FindMessage(records, rejected.Change), rejected.Reason);
                    }

                    _deadLetters.Flush();
                },
            };
            var result = await _sink.ApplyAsync(batch, CancellationToken.None);
            var repaired = _tombstoneRepair is null ? 0 : await _tombstoneRepair.PublishAsync(CancellationToken.None);
            await _reader.AcknowledgeAsync(CancellationToken.None);

            Counters.AddRead(records.Count);
            Counters.AddCollapsed(changes.Count - collapsed.Count);
            Counters.AddApplied(result.Upserted);
            Counters.AddDeleted(result.Deleted);
            Counters.AddStale(result.Stale);
            Counters.AddDeadLettered(deadLettered + result.Rejected.Count);
            Counters.AddSuppressed(suppressed);
            Counters.AddTombstonesRepaired(repaired);
            Counters.AddBatch();
        }
    }

    /// <summary>The message a rejected change was decoded from (a rare path: a linear search).</summary>
    private static SourceMessage FindMessage(IReadOnlyList<SourceRecord> records, ChangeEvent change)
    {
        foreach (var record in records)
        {
            if (record.Message is { } message && message.Position == change.Origin.Position
                && string.Equals(message.Topic, change.Origin.Topic, StringComparison.Ordinal))
            {
                return message;
            }
        }

        throw new InvalidOperationException($"the sink rejected a change from {change.Origin.Topic} @ {change.Origin.Position} that is not in the batch");
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: {Location} cannot be read: {Reason}; sent to the dead-letter target")]
    private static partial void LogUnreadable(ILogger logger, string materializer, string location, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: message {Location} cannot be decoded: {Reason}; sent to the dead-letter target")]
    private static partial void LogUndecodable(ILogger logger, string materializer, string location, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: message {Location} cannot be mapped: {Reason}; sent to the dead-letter target")]
    private static partial void LogUnmappable(ILogger logger, string materializer, string location, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Materializer}: change from {Location} cannot be written: {Reason}; sent to the dead-letter target")]
    private static partial void LogRejected(ILogger logger, string materializer, string location, string reason);
}
