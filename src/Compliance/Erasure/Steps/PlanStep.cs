namespace Sync.Compliance.Erasure.Steps;

/// <summary>Input of <see cref="PlanStep"/>.</summary>
public sealed record PlanInput(ErasureScope Scope);

/// <summary>Output of <see cref="PlanStep"/>.</summary>
/// <param name="Topics">Per topic that carries a subject, what to tombstone, scrub and compact (in the order found).</param>
/// <param name="TombstonedRows">Per materializer, by key text, the row keys of the messages the plan
/// tombstones: where a running materializer applies a tombstone before the erasure reaches the sink,
/// its delete marker becomes an erasure marker.</param>
/// <param name="RowsBefore">Per materializer, the subjects' rows counted before any tombstone.</param>
public sealed record ErasurePlan(
    IReadOnlyDictionary<TopicRef, TopicPlan> Topics,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, Row>> TombstonedRows,
    IReadOnlyDictionary<string, long> RowsBefore)
{
    /// <summary>The requested keys that at least one sink row held before any tombstone.</summary>
    public IReadOnlySet<string> KeysInSinks { get; init; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>The requested keys that a topic message or a sink row named before any tombstone.</summary>
    public IReadOnlySet<string> KeysFound
    {
        get
        {
            var found = new HashSet<string>(KeysInSinks, StringComparer.Ordinal);
            found.UnionWith(Topics.Values.SelectMany(p => p.Subjects));
            return found;
        }
    }
}

/// <summary>Finds, per topic, the message keys whose current state references a subject, the keys to
/// scrub and the deleted keys whose history names one; and counts the subjects' rows in every sink.
/// One compacted read and one raw scan per source, whatever the number of materializers on it: each
/// message is matched against the bindings whose topics include it.</summary>
public sealed class PlanStep : IErasureStep<PlanInput, ErasurePlan>
{
    public async Task<ErasurePlan> RunAsync(PlanInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        var scope = input.Scope;

        // Counted before any tombstone: running materializers apply the tombstones as soon as they
        // are published, and the report tells what they removed from what the erasure did. The
        // counts need nothing from the topics, so they run while the topics are read.
        var keysInSinks = new HashSet<string>(StringComparer.Ordinal);
        var counting = scope.PerSinkAsync(async bound =>
        {
            var count = await SubjectRows.CountAsync(scope.SinkOf(bound), bound, scope.Keys, cancellationToken);
            lock (keysInSinks)
            {
                keysInSinks.UnionWith(count.KeysFound);
            }

            return count.Total;
        });
        var topics = new Dictionary<TopicRef, TopicPlan>();
        var tombstoned = scope.Bindings.ToDictionary(b => b.Materializer, _ => new Dictionary<string, Row>(StringComparer.Ordinal), StringComparer.Ordinal);
        try
        {
            foreach (var sourceBindings in scope.Bindings.GroupBy(b => b.Options.Source, StringComparer.Ordinal))
            {
                await PlanSourceAsync(scope, sourceBindings.Key, [.. sourceBindings], topics, tombstoned, cancellationToken);
            }
        }
        catch
        {
            // The counts must end before their sinks close, and their own failure is not the one to report.
            await counting.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            throw;
        }

        var rowsBefore = await counting;
        return new ErasurePlan(topics, tombstoned.ToDictionary(t => t.Key, t => (IReadOnlyDictionary<string, Row>)t.Value, StringComparer.Ordinal), rowsBefore)
        {
            KeysInSinks = keysInSinks,
        };
    }

    private static async Task PlanSourceAsync(ErasureScope scope, string sourceName, List<BoundMaterializer> bindings, Dictionary<TopicRef, TopicPlan> topics, Dictionary<string, Dictionary<string, Row>> tombstoned, CancellationToken cancellationToken)
    {
        var source = scope.Config.Sources[sourceName];
        var log = scope.Logs.Get(source);
        var readers = bindings.Select(scope.Reader).ToList();
        bool AnyReads(string topic) => readers.Any(r => r.Reads(topic));
        TopicPlan PlanOf(string topic) =>
            topics.TryGetValue(new(source.Name, topic), out var existing) ? existing : topics[new(source.Name, topic)] = new TopicPlan(source);

        var live = new HashSet<(string Topic, MessageKey Key)>();
        await foreach (var message in log.ReadCompactedAsync(AnyReads, cancellationToken))
        {
            live.Add((message.Topic, message.Key));
            foreach (var reader in readers.Where(r => r.Reads(message.Topic)))
            {
                // A key is tombstoned only when its current state is the subject's; where the subject
                // is named only by the before image of a row that now belongs to someone else (an
                // order moved to another customer), the message is scrubbed instead.
                var claims = reader.ClaimsIn(message, scope.KeySet);
                if (claims.Owning.Count > 0)
                {
                    tombstoned[reader.Binding.Materializer].TryAdd(claims.Change!.KeyText, claims.Change.Key);
                    var entry = PlanOf(message.Topic);
                    entry.Keys.Add(message.Key);
                    entry.Scrubs.Remove(message.Key);
                    entry.Materializers.Add(reader.Binding.Materializer);
                    entry.Subjects.UnionWith(claims.Owning);
                }
                else if (claims.BeforeOnly.Count > 0)
                {
                    var entry = PlanOf(message.Topic);
                    if (!entry.Keys.Contains(message.Key))
                    {
                        entry.Scrubs[message.Key] = new Scrub(message, reader.Format);
                    }

                    entry.Materializers.Add(reader.Binding.Materializer);
                    entry.Subjects.UnionWith(claims.BeforeOnly);
                }
            }
        }

        // Keys already deleted whose history still names a subject: no tombstone is needed, but
        // compaction removes that history where the log can.
        await foreach (var message in log.ScanRawAsync(AnyReads, cancellationToken))
        {
            if (live.Contains((message.Topic, message.Key)) || !message.Key.IsPresent)
            {
                continue;
            }

            foreach (var reader in readers.Where(r => r.Reads(message.Topic)))
            {
                var subjects = reader.SubjectsIn(message, scope.KeySet);
                if (subjects.Count == 0)
                {
                    continue;
                }

                var entry = PlanOf(message.Topic);
                entry.Deleted.Add(message.Key);
                entry.Materializers.Add(reader.Binding.Materializer);
                entry.Subjects.UnionWith(subjects);
            }
        }
    }
}
