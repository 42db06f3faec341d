using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using EsHttpMethod = Elastic.Transport.HttpMethod;

namespace Sync.Sinks.Elasticsearch;

/// <summary>The conditional checkpoint write (<see cref="SinkBatch.ExpectedCheckpoint"/>,
/// <see cref="IMonotonicCheckpointSink"/>).</summary>
internal sealed partial class ElasticsearchWriter
{
    /// <summary>How often in a row the checkpoint document may be found written by another process
    /// between reading it and writing it before the batch fails.</summary>
    private const int CheckpointWriteAttempts = 20;

    /// <summary>Reads the checkpoint document (a realtime GET, with its <c>_seq_no</c> and
    /// <c>_primary_term</c>), throws <see cref="SinkCheckpointChangedException"/> unless it holds every
    /// expected stream at or past its expected position (one not held counts as the start): otherwise
    /// the index was restored from a snapshot, or recreated, since the materializer read it. Then
    /// writes the stored positions merged with the batch's, an expected stream keeping the greater,
    /// on the condition that the document is still the one read: <c>if_seq_no</c> and
    /// <c>if_primary_term</c>, or <c>_create</c> where there was none, which the server refuses with
    /// 409 when another write came between
    /// (https://www.elastic.co/docs/reference/elasticsearch/rest-apis/optimistic-concurrency-control;
    /// https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-index, parameters
    /// <c>if_seq_no</c>, <c>if_primary_term</c>, and the <c>_create</c> endpoint). A 409 is another
    /// process's write, or a restore, between the two: the document is read and compared again.</summary>
    private async Task StoreCheckpointIfHeldAsync(
        string materializer, IReadOnlyDictionary<string, StreamPosition> checkpoint, IReadOnlyDictionary<string, StreamPosition> expected, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var read = await ReadVersionedAsync(materializer, cancellationToken);
            if (expected.Any(e => (read.Held.TryGetValue(e.Key, out var position) ? position : StreamPosition.Start) < e.Value))
            {
                throw new SinkCheckpointChangedException(materializer);
            }

            var merged = new Dictionary<string, StreamPosition>(read.Held, StringComparer.Ordinal);
            foreach (var (entry, position) in checkpoint)
            {
                if (!expected.ContainsKey(entry) || !read.Held.TryGetValue(entry, out var stored) || position > stored)
                {
                    merged[entry] = position;
                }
            }

            if (await WriteIfUnchangedAsync(materializer, read, merged, attempt == CheckpointWriteAttempts, cancellationToken))
            {
                _checkpoints[materializer] = merged;
                return;
            }
        }
    }

    /// <summary>A checkpoint document as read with its <c>_seq_no</c> and <c>_primary_term</c> (null when absent).</summary>
    private sealed record VersionedCheckpoint(Dictionary<string, StreamPosition> Held, long? SeqNo, long? PrimaryTerm);

    /// <summary>Reads a checkpoint document with a realtime GET, with what a conditional write needs.</summary>
    private async Task<VersionedCheckpoint> ReadVersionedAsync(string documentId, CancellationToken cancellationToken)
    {
        var read = await RawAsync(EsHttpMethod.GET, $"/{Uri.EscapeDataString(_options.CheckpointIndex)}/_doc/{Uri.EscapeDataString(documentId)}", null, cancellationToken);
        if (read.Status is not (200 or 404))
        {
            ThrowFor(read, $"reading the checkpoint of '{documentId}'");
        }

        return read.Status == 200 && read.Body?["found"]?.GetValue<bool>() == true
            ? new VersionedCheckpoint(PositionsOf(read.Body!["_source"]?["positions"]), read.Body!["_seq_no"]!.GetValue<long>(), read.Body!["_primary_term"]!.GetValue<long>())
            : new VersionedCheckpoint([], null, null);
    }

    /// <summary>Writes <paramref name="positions"/> as the checkpoint document on the condition that it is
    /// still the one <paramref name="read"/>: <c>if_seq_no</c> and <c>if_primary_term</c>, or <c>_create</c>
    /// where there was none. False when the server refused it with 409 (another write came between),
    /// unless <paramref name="lastAttempt"/>, which throws then.</summary>
    private async Task<bool> WriteIfUnchangedAsync(
        string documentId, VersionedCheckpoint read, IReadOnlyDictionary<string, StreamPosition> positions, bool lastAttempt, CancellationToken cancellationToken)
    {
        var index = Uri.EscapeDataString(_options.CheckpointIndex);
        var id = Uri.EscapeDataString(documentId);
        var refresh = _options.Refresh switch
        {
            RefreshPolicy.WaitFor => "wait_for",
            RefreshPolicy.Immediate => "true",
            _ => "false",
        };
        var document = JsonSerializer.SerializeToNode(new CheckpointDocument
        {
            Materializer = documentId,
            UpdatedAt = _time.GetUtcNow(),
            Positions = [.. positions.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new CheckpointPosition { Stream = p.Key, Position = p.Value.ToString() })],
        })!.AsObject();
        var path = read.SeqNo is { } seqNo
            ? string.Create(CultureInfo.InvariantCulture, $"/{index}/_doc/{id}?if_seq_no={seqNo}&if_primary_term={read.PrimaryTerm}&refresh={refresh}")
            : $"/{index}/_create/{id}?refresh={refresh}";
        var written = await RawAsync(EsHttpMethod.PUT, path, document, cancellationToken);
        if (written.Status is 200 or 201)
        {
            return true;
        }

        if (written.Status != 409 || lastAttempt)
        {
            ThrowFor(written, $"writing the checkpoint of '{documentId}'");
        }

        return false;
    }

    private static Dictionary<string, StreamPosition> PositionsOf(JsonNode? positions)
    {
        var result = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        if (positions is JsonArray entries)
        {
            foreach (var entry in entries)
            {
                if (entry?["stream"]?.GetValue<string>() is { } stream && entry["position"]?.GetValue<string>() is { } position)
                {
                    result[stream] = StreamPosition.Parse(position);
                }
            }
        }

        return result;
    }
}
