namespace Sync.Sinks.Elasticsearch;

/// <summary>The processes' agreement on a source epoch (ISink.AddCheckpointEntriesAsync) in a checkpoint
/// document of its own: the checkpoint document is rewritten whole by each batch from what the writer
/// last read, which would drop an entry another process added meanwhile, and the declarations' document
/// is written unconditionally by <c>sync epoch bump</c>.</summary>
internal sealed partial class ElasticsearchWriter
{
    private static string AgreementsOf(string materializer) => materializer + "#epoch-agreements";

    /// <summary>Adds the entries absent from the agreements' document in one conditional write of the
    /// document as read (<see cref="WriteIfUnchangedAsync"/>: <c>if_seq_no</c>/<c>if_primary_term</c>, or
    /// <c>_create</c> where there is none, both refused with 409 when another write came between:
    /// https://www.elastic.co/docs/reference/elasticsearch/rest-apis/optimistic-concurrency-control;
    /// https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-index, the <c>_create</c>
    /// endpoint; a document with the id answers 409: https://www.elastic.co/guide/en/elasticsearch/guide/current/create-doc.html),
    /// reading it again
    /// after a 409. So every entry of one call is stored, or none when a racing caller stored the first
    /// name first, and a stored entry is never replaced. A name the checkpoint document holds (a shadow's
    /// checkpoint copied at its swap) counts as stored. Returns what is stored under the names.</summary>
    public async Task<IReadOnlyDictionary<string, StreamPosition>> AddCheckpointEntriesAsync(
        string materializer, IReadOnlyList<KeyValuePair<string, StreamPosition>> entries, CancellationToken cancellationToken)
    {
        var names = entries.Select(e => e.Key).ToHashSet(StringComparer.Ordinal);
        if (names.Count == 0)
        {
            return new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        }

        var checkpoint = await ReadCheckpointDocumentAsync(materializer, cancellationToken);
        for (var attempt = 1; ; attempt++)
        {
            var read = await ReadVersionedAsync(AgreementsOf(materializer), cancellationToken);
            bool Held(string name) => read.Held.ContainsKey(name) || checkpoint.ContainsKey(name);
            var absent = entries.Where(e => !Held(e.Key)).ToList();
            var merged = new Dictionary<string, StreamPosition>(read.Held, StringComparer.Ordinal);
            foreach (var (name, position) in absent)
            {
                merged.TryAdd(name, position);
            }

            if (absent.Count == 0 || await WriteIfUnchangedAsync(AgreementsOf(materializer), read, merged, attempt == CheckpointWriteAttempts, cancellationToken))
            {
                return names.Where(n => merged.ContainsKey(n) || checkpoint.ContainsKey(n))
                    .ToDictionary(n => n, n => merged.TryGetValue(n, out var agreed) ? agreed : checkpoint[n], StringComparer.Ordinal);
            }
        }
    }
}
