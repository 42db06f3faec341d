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
        var index = Uri.EscapeDataString(_options.CheckpointIndex);
        var id = Uri.EscapeDataString(materializer);
        var refresh = _options.Refresh switch
        {
            RefreshPolicy.WaitFor => "wait_for",
            RefreshPolicy.Immediate => "true",
            _ => "false",
        };
        for (var attempt = 1; ; attempt++)
        {
            var read = await RawAsync(EsHttpMethod.GET, $"/{index}/_doc/{id}", null, cancellationToken);
            if (read.Status is not (200 or 404))
            {
                ThrowFor(read, $"reading the checkpoint of '{materializer}'");
            }

            var found = read.Status == 200 && read.Body?["found"]?.GetValue<bool>() == true;
            var held = found ? PositionsOf(read.Body!["_source"]?["positions"]) : [];
            if (expected.Any(e => (held.TryGetValue(e.Key, out var position) ? position : StreamPosition.Start) < e.Value))
            {
                throw new SinkCheckpointChangedException(materializer);
            }

            var merged = new Dictionary<string, StreamPosition>(held, StringComparer.Ordinal);
            foreach (var (entry, position) in checkpoint)
            {
                if (!expected.ContainsKey(entry) || !held.TryGetValue(entry, out var stored) || position > stored)
                {
                    merged[entry] = position;
                }
            }

            var document = JsonSerializer.SerializeToNode(new CheckpointDocument
            {
                Materializer = materializer,
                UpdatedAt = _time.GetUtcNow(),
                Positions = [.. merged.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new CheckpointPosition { Stream = p.Key, Position = p.Value.ToString() })],
            })!.AsObject();
            var path = found
                ? string.Create(
                    CultureInfo.InvariantCulture,
                    $"/{index}/_doc/{id}?if_seq_no={read.Body!["_seq_no"]!.GetValue<long>()}&if_primary_term={read.Body!["_primary_term"]!.GetValue<long>()}&refresh={refresh}")
                : $"/{index}/_create/{id}?refresh={refresh}";
            var written = await RawAsync(EsHttpMethod.PUT, path, document, cancellationToken);
            if (written.Status is 200 or 201)
            {
                _checkpoints[materializer] = merged;
                return;
            }

            if (written.Status != 409 || attempt == CheckpointWriteAttempts)
            {
                ThrowFor(written, $"writing the checkpoint of '{materializer}'");
            }
        }
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
