using System.Buffers;
using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Elastic.Clients.Elasticsearch;
using Elastic.Clients.Elasticsearch.Core.Bulk;
using Elastic.Clients.Elasticsearch.QueryDsl;
using Elastic.Transport;
using EsHttpMethod = Elastic.Transport.HttpMethod;

namespace Sync.Sinks.Elasticsearch;

/// <summary>Writes batches with <c>_bulk</c>: one document per key (id from the key, source from the
/// after-image), external versions (<see cref="ExternalVersions"/>), indices created with exact mappings
/// when absent, per-item outcomes classified, failed items alone resent with capped backoff, then the
/// checkpoint. Not thread-safe: <see cref="ElasticsearchSink"/> serializes calls.</summary>
internal sealed partial class ElasticsearchWriter
{
    private readonly ElasticsearchClient _client;
    private readonly ElasticsearchSinkOptions _options;
    private readonly string _sinkName;
    private readonly TimeProvider _time;
    private readonly SinkRetry _retry;

    /// <summary>Per index this sink has seen: the mapped field names when the sink manages its mappings, else null.</summary>
    private readonly Dictionary<string, HashSet<string>?> _indices = new(StringComparer.Ordinal);

    private readonly Dictionary<string, Dictionary<string, StreamPosition>> _checkpoints = new(StringComparer.Ordinal);

    public ElasticsearchWriter(ElasticsearchClient client, ElasticsearchSinkOptions options, string sinkName, TimeProvider time)
    {
        _client = client;
        _options = options;
        _sinkName = sinkName;
        _time = time;
        _retry = new SinkRetry(options.Retry, time);
    }

    private Refresh RefreshParameter => _options.Refresh switch
    {
        RefreshPolicy.WaitFor => Refresh.WaitFor,
        RefreshPolicy.Immediate => Refresh.True,
        _ => Refresh.False,
    };

    public async Task<ApplyResult> ApplyAsync(SinkBatch batch, CancellationToken cancellationToken)
    {
        var target = batch.Target.Options as ElasticsearchTargetOptions ?? new ElasticsearchTargetOptions();
        var template = target.IndexTemplate(batch.Target.Table);
        var context = new BatchContext();
        var segment = new List<Prepared>();
        foreach (var change in batch.Changes)
        {
            if (change.Op == ChangeOp.Truncate)
            {
                await WriteAsync(segment, target, batch.Target.Table, context, cancellationToken);
                segment.Clear();
                context.Deleted += await TruncateAsync(ElasticsearchTargetOptions.Pattern(template), cancellationToken);
                continue;
            }

            if (Prepare(change, target, template, batch.Target.Table, context) is { } prepared)
            {
                segment.Add(prepared);
            }
        }

        await WriteAsync(segment, target, batch.Target.Table, context, cancellationToken);
        if (context.Rejected.Count > 0 && batch.BeforeCommit is { } beforeCommit)
        {
            await beforeCommit(context.Rejected, cancellationToken);
        }

        await StoreCheckpointAsync(batch.Materializer, batch.Checkpoint, batch.ExpectedCheckpoint, cancellationToken);
        return context.ToResult();
    }

    /// <summary>The document of a change, or null when it is rejected (the reason names the index and the
    /// key columns, never values).</summary>
    private static Prepared? Prepare(ChangeEvent change, ElasticsearchTargetOptions target, string template, string table, BatchContext context)
    {
        var keyNames = change.Key.Names;
        var index = target.Render(template, table, change, out var problem);
        var where = index is null ? $"index template {template}" : $"index \"{index}\"";
        if (keyNames.Length == 0)
        {
            context.Reject(change, $"{where}: a {change.Op} has no key columns");
            return null;
        }

        var describe = $"{where} (key {DocumentIds.Describe(keyNames)})";
        if (index is null)
        {
            context.Reject(change, $"{describe}: {problem}");
            return null;
        }

        var id = DocumentIds.Of(change.Key);
        if (string.IsNullOrEmpty(id))
        {
            context.Reject(change, $"{describe}: the key is NULL or empty and cannot be a document id");
            return null;
        }

        var idBytes = DocumentIds.ByteCount(id);
        if (idBytes > DocumentIds.MaxIdBytes)
        {
            context.Reject(change, $"{describe}: the document id is {DocumentIds.Invariant(idBytes)} bytes; Elasticsearch allows at most {DocumentIds.MaxIdBytes}");
            return null;
        }

        if (ExternalVersions.Encode(change.Version, out problem) is not { } version)
        {
            context.Reject(change, $"{describe}: {problem}");
            return null;
        }

        if (change.IsDelete)
        {
            return new Prepared(change, index, id, version, null);
        }

        var image = change.After;
        if (image is null)
        {
            context.Reject(change, $"{describe}: a {change.Op} has no row image (after)");
            return null;
        }

        foreach (var key in keyNames)
        {
            var i = image.IndexOf(key);
            if (i < 0)
            {
                context.Reject(change, $"{describe}: key column \"{key}\" is missing from the row image");
                return null;
            }

            if (image.Values[i].IsNull)
            {
                context.Reject(change, $"{describe}: key column \"{key}\" is NULL");
                return null;
            }
        }

        if (image.Names.Any(n => n.Trim().Length == 0) || image.Names.Distinct(StringComparer.Ordinal).Count() != image.Count)
        {
            context.Reject(change, $"{describe}: a column name is empty or appears twice in the row image");
            return null;
        }

        if (image.Values.Any(v => v.IsUnavailable))
        {
            // Filled from the stored document before the bulk (FillAsync).
            return new Prepared(change, index, id, version, []) { Partial = true };
        }

        try
        {
            return new Prepared(change, index, id, version, Document(image));
        }
        catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
        {
            context.Reject(change, $"{describe}: the row cannot be written as JSON: {e.GetType().Name}");
            return null;
        }
    }

    /// <summary>The <c>_source</c> of a row: values as <see cref="Sync.Engine.Changes.FieldValue.WriteTo"/> writes them, except exact
    /// decimals, which are JSON strings unless the schema maps them to an exact <c>scaled_float</c>.</summary>
    internal static byte[] Document(Row image) => Document(image, null, out _);

    /// <summary>The <c>_source</c> of a row whose columns the source did not send (<see cref="Sync.Engine.Changes.FieldValue.IsUnavailable"/>)
    /// take their values from <paramref name="stored"/>, the stored <c>_source</c>, as its raw JSON; a column it
    /// does not hold (or no stored document) is null, and <paramref name="unfilled"/> says so.</summary>
    internal static byte[] Document(Row image, JsonElement? stored, out bool unfilled)
    {
        unfilled = false;
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            for (var i = 0; i < image.Count; i++)
            {
                writer.WritePropertyName(image.Names[i]);
                var value = image.Values[i];
                if (value.IsUnavailable)
                {
                    if (stored is { ValueKind: JsonValueKind.Object } source && source.TryGetProperty(image.Names[i], out var kept))
                    {
                        writer.WriteRawValue(kept.GetRawText(), skipInputValidation: true);
                    }
                    else
                    {
                        writer.WriteNullValue();
                        unfilled = true;
                    }
                }
                else if (value.Kind == ValueKind.Decimal && !ElasticsearchMappings.IsExactNumber(image.Schema?.Find(image.Names[i])))
                {
                    writer.WriteStringValue(value.AsText);
                }
                else
                {
                    value.WriteTo(writer);
                }
            }

            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private async Task WriteAsync(List<Prepared> segment, ElasticsearchTargetOptions target, string table, BatchContext context, CancellationToken cancellationToken)
    {
        if (segment.Count == 0)
        {
            return;
        }

        await EnsureIndicesAsync(segment, target, table, cancellationToken);
        if (segment.Any(p => p.Partial))
        {
            segment = await FillAsync(segment, context, cancellationToken);
        }

        await SendAsync(segment, context, cancellationToken);
    }

    /// <summary>
    /// Sends a segment in <c>_bulk</c> requests of at most <see cref="ElasticsearchSinkOptions.BulkBytes"/> of
    /// documents (Elasticsearch refuses a body over <c>http.max_content_length</c>, 100 MB by default, with
    /// 413). A segment that needs several requests is partitioned by document into at most
    /// <see cref="ElasticsearchSinkOptions.BulkConcurrency"/> lanes sent at once, each lane's requests one
    /// after another: every change of one document is in one lane, in the segment's order, so no two
    /// requests in flight hold changes of the same document and the outcome (stale counts included) is
    /// the one of sending the segment in order. Returns once every lane is done; a lane's failure is
    /// thrown after the others finished (their items applied, as with a failure of one sequential
    /// request after others: a replay is safe, external versions).
    /// </summary>
    private async Task SendAsync(List<Prepared> segment, BatchContext context, CancellationToken cancellationToken)
    {
        var chunks = Chunks(segment, _options.BulkBytes).ToList();
        var sent = 0;

        // A field Elasticsearch maps dynamically takes the type of the first value that reaches it, so
        // requests in flight together could map it otherwise than the batch's order would: until every
        // field of the rest is mapped, one request at a time, in order.
        while (sent < chunks.Count - 1 && _options.BulkConcurrency > 1 && !await AllMappedAsync(chunks.Skip(sent).SelectMany(c => c), cancellationToken))
        {
            await WriteChunkAsync(chunks[sent++], context, cancellationToken);
        }

        if (sent > 0)
        {
            segment = [.. chunks.Skip(sent).SelectMany(c => c)];
            chunks = [.. chunks.Skip(sent)];
        }

        var lanes = Math.Min(_options.BulkConcurrency, chunks.Count);
        if (lanes <= 1)
        {
            foreach (var chunk in chunks)
            {
                await WriteChunkAsync(chunk, context, cancellationToken);
            }

            return;
        }

        var partitions = new List<Prepared>[lanes];
        for (var i = 0; i < lanes; i++)
        {
            partitions[i] = [];
        }

        foreach (var p in segment)
        {
            var hash = HashCode.Combine(StringComparer.Ordinal.GetHashCode(p.Index), StringComparer.Ordinal.GetHashCode(p.Id));
            partitions[(int)((uint)hash % (uint)lanes)].Add(p);
        }

        var rejectedBefore = context.Rejected.Count;
        await Task.WhenAll(partitions.Select(async partition =>
        {
            foreach (var chunk in Chunks(partition, _options.BulkBytes))
            {
                await WriteChunkAsync(chunk, context, cancellationToken);
            }
        }));

        // Rejections in the segment's order, as one request sequence would have listed them.
        var order = new Dictionary<ChangeEvent, int>(ReferenceEqualityComparer.Instance);
        for (var i = 0; i < segment.Count; i++)
        {
            order.TryAdd(segment[i].Change, i);
        }

        var rejected = context.Rejected.GetRange(rejectedBefore, context.Rejected.Count - rejectedBefore).OrderBy(r => order.GetValueOrDefault(r.Change)).ToList();
        context.Rejected.RemoveRange(rejectedBefore, rejected.Count);
        context.Rejected.AddRange(rejected);
    }

    /// <summary>True when no document of <paramref name="items"/> can add a field to its index's mapping:
    /// each column with a value is mapped there (a JSON value only where its schema had it mapped whole,
    /// as <c>flattened</c> or a disabled object). The mapped fields are read again from the index when the
    /// ones this sink knows do not cover the documents.</summary>
    private async Task<bool> AllMappedAsync(IEnumerable<Prepared> items, CancellationToken cancellationToken)
    {
        foreach (var group in items.Where(p => p.Document is not null).GroupBy(p => p.Index, StringComparer.Ordinal))
        {
            if (!_indices.TryGetValue(group.Key, out var known) || known is null)
            {
                return false;
            }

            if (Unmapped(group, known) is not { } field)
            {
                continue;
            }

            if (field.Length == 0)
            {
                return false;
            }

            known.UnionWith(await MappedFieldsAsync(group.Key, cancellationToken));
            if (Unmapped(group, known) is not null)
            {
                return false;
            }
        }

        return true;

        // A column with a value that the mapping does not hold; "" for a JSON value without a schema
        // (its inner fields are mapped dynamically whatever the mapping of the column); else null.
        static string? Unmapped(IEnumerable<Prepared> documents, HashSet<string> known)
        {
            foreach (var p in documents)
            {
                var image = p.Change.After!;
                for (var i = 0; i < image.Count; i++)
                {
                    var value = image.Values[i];
                    if (value.IsNull)
                    {
                        continue;
                    }

                    if (value.Kind == ValueKind.Json && image.Schema?.Find(image.Names[i]) is null)
                    {
                        return string.Empty;
                    }

                    if (!known.Contains(image.Names[i]))
                    {
                        return image.Names[i];
                    }
                }
            }

            return null;
        }
    }

    /// <summary>The segment cut in order into pieces of at most <paramref name="maxBytes"/> of documents
    /// (an estimate of the action line per item included); a document alone over it is a piece of its own.</summary>
    private static IEnumerable<List<Prepared>> Chunks(List<Prepared> segment, int maxBytes)
    {
        var chunk = new List<Prepared>();
        long bytes = 0;
        foreach (var p in segment)
        {
            var size = (p.Document?.Length ?? 0) + 128;
            if (chunk.Count > 0 && bytes + size > maxBytes)
            {
                yield return chunk;
                chunk = [];
                bytes = 0;
            }

            chunk.Add(p);
            bytes += size;
        }

        if (chunk.Count > 0)
        {
            yield return chunk;
        }
    }

    private async Task WriteChunkAsync(List<Prepared> segment, BatchContext context, CancellationToken cancellationToken)
    {
        var pending = segment;
        await _retry.RunAsync(
            async _ =>
            {
                cancellationToken.ThrowIfCancellationRequested();
                var failed = await BulkAsync(pending, context, cancellationToken);
                if (failed.Items.Count == 0)
                {
                    return Attempt<bool>.Done(true);
                }

                pending = failed.Items;
                return Attempt<bool>.Transient(attempts => new SinkUnavailableException(
                    $"elasticsearch sink '{_sinkName}': {failed.Items.Count} of {segment.Count} changes to index \"{segment[0].Index}\" still failed after {attempts} attempts ({failed.LastError}); "
                    + "the other changes were applied — a replay of the batch is safe (external versions)"));
            },
            null,
            cancellationToken);
    }

    /// <summary>One <c>_bulk</c> request; returns the items to send again.</summary>
    private async Task<(List<Prepared> Items, string LastError)> BulkAsync(List<Prepared> pending, BatchContext context, CancellationToken cancellationToken)
    {
        var operations = new BulkOperationsCollection();
        foreach (var p in pending)
        {
            operations.Add(p.Document is null
                ? new BulkDeleteOperation(p.Id) { Index = p.Index, Version = p.Version, VersionType = VersionType.External }
                : new BulkIndexOperation<RawDocument>(new RawDocument(p.Document), p.Index) { Id = p.Id, Version = p.Version, VersionType = VersionType.External });
        }

        var response = await _client.BulkAsync(new BulkRequest { Operations = operations, Refresh = RefreshParameter }, cancellationToken);
        var status = response.ApiCallDetails.HttpStatusCode;
        if (status is not (>= 200 and < 300) || response.Items is null || response.Items.Count != pending.Count)
        {
            var description = DescribeFailure(response);
            if (ElasticsearchErrorClassifier.ClassifyRequest(status) == ErrorVerdict.Transient)
            {
                return (pending, description);
            }

            throw new SinkFatalException($"elasticsearch sink '{_sinkName}': _bulk of {pending.Count} changes to index \"{pending[0].Index}\" failed: {description}",
                response.ApiCallDetails.OriginalException ?? new InvalidOperationException(description));
        }

        var retry = new List<Prepared>();
        var lastError = string.Empty;

        // Lanes of one batch (SendAsync) answer at once and count into one tally.
        lock (context)
        {
            Tally(response.Items, pending, context, retry, ref lastError);
        }

        return (retry, lastError);
    }

    private void Tally(IReadOnlyCollection<Elastic.Clients.Elasticsearch.Core.Bulk.ResponseItem> items, List<Prepared> pending, BatchContext context, List<Prepared> retry, ref string lastError)
    {
        var i = 0;
        foreach (var item in items)
        {
            var p = pending[i++];
            var errorType = item.Error?.Type;
            switch (ElasticsearchErrorClassifier.ClassifyItem(item.Status, errorType))
            {
                case ItemOutcome.Applied when p.Document is null:
                    context.Deleted++;
                    break;
                case ItemOutcome.Applied:
                    context.Upserted++;
                    context.Unavailable += p.Unfilled ? 1 : 0;
                    break;
                case ItemOutcome.Stale:
                    context.Stale++;
                    break;
                case ItemOutcome.Transient:
                    retry.Add(p);
                    lastError = $"{item.Status} {errorType}";
                    break;
                case ItemOutcome.Poison:
                    context.Reject(p.Change,
                        $"index \"{p.Index}\" (key {DocumentIds.Describe(p.Change.Key.Names)}): Elasticsearch refused the document: {item.Status} {errorType}: {ElasticsearchErrorClassifier.Sanitize(item.Error?.Reason, p.Id)}");
                    break;
                default:
                    throw new SinkFatalException(
                        $"elasticsearch sink '{_sinkName}': index \"{p.Index}\" answered {item.Status} {errorType}: {ElasticsearchErrorClassifier.Sanitize(item.Error?.Reason, p.Id)}; "
                        + "changes before it in the batch may be applied — a replay is safe (external versions)");
            }
        }
    }

    /// <summary>Creates each index of the segment that this sink has not seen, with mappings from the
    /// schemas of the segment's rows; adds mappings for schema columns that appear later.</summary>
    private async Task EnsureIndicesAsync(List<Prepared> segment, ElasticsearchTargetOptions target, string table, CancellationToken cancellationToken)
    {
        foreach (var group in segment.GroupBy(p => p.Index, StringComparer.Ordinal))
        {
            var columns = new Dictionary<string, ColumnSchema>(StringComparer.Ordinal);
            foreach (var p in group)
            {
                if (p.Change.After?.Schema is { } schema && p.Document is not null)
                {
                    foreach (var name in p.Change.After.Names)
                    {
                        if (schema.Find(name) is { } column)
                        {
                            columns.TryAdd(name, column);
                        }
                    }
                }
            }

            if (!_indices.TryGetValue(group.Key, out var known))
            {
                known = await OpenIndexAsync(group.Key, target, table, columns, group.First(), cancellationToken);
                _indices[group.Key] = known;
            }

            if (known is null)
            {
                continue;
            }

            var added = columns.Where(c => !known.Contains(c.Key)).ToList();
            if (added.Count == 0)
            {
                continue;
            }

            var properties = new JsonObject();
            foreach (var (name, column) in added)
            {
                properties[name] = ElasticsearchMappings.For(column, target);
            }

            var response = await RawAsync(EsHttpMethod.PUT, $"/{Uri.EscapeDataString(group.Key)}/_mapping", new JsonObject { ["properties"] = properties }, cancellationToken);
            if (response.Status is >= 200 and < 300)
            {
                known.UnionWith(added.Select(a => a.Key));
            }
            else if (response.Status == 400)
            {
                // A field Elasticsearch already mapped dynamically keeps its type; learn what is mapped.
                _indices[group.Key] = await MappedFieldsAsync(group.Key, cancellationToken);
            }
            else
            {
                ThrowFor(response, $"adding mappings to index \"{group.Key}\"");
            }
        }
    }

    private async Task<HashSet<string>?> OpenIndexAsync(string index, ElasticsearchTargetOptions target, string table, Dictionary<string, ColumnSchema> columns, Prepared first, CancellationToken cancellationToken)
    {
        if (!target.CreateIndex)
        {
            return null;
        }

        string? alias = null;
        if (target.Alias is { } aliasTemplate)
        {
            alias = target.Render(aliasTemplate, table, first.Change, out var problem)
                ?? throw new SinkFatalException($"elasticsearch sink '{_sinkName}': the alias of index \"{index}\" cannot be rendered: {problem}");
        }

        var body = ElasticsearchMappings.CreateIndexBody(target, columns, first.Change.Key.Names, alias);
        var response = await RawAsync(EsHttpMethod.PUT, "/" + Uri.EscapeDataString(index), body, cancellationToken);
        if (response.Status is >= 200 and < 300)
        {
            await PrepareBulkLoadAsync(index, cancellationToken);
            return [.. columns.Keys];
        }

        if (response.Status == 400 && (response.ErrorType == "resource_already_exists_exception" || IsAliasName(response)))
        {
            // The name is taken by an index, or by an alias (after a shadow backfill): write through it.
            return await MappedFieldsAsync(index, cancellationToken);
        }

        ThrowFor(response, $"creating index \"{index}\"");
        return null;
    }

    /// <summary>The mapped type of a field (a dotted path through <c>properties</c>, or a multi-field)
    /// in each index of a pattern, from <c>GET /{pattern}/_mapping</c>; indices that do not map it are
    /// left out, and a pattern without indices has none.</summary>
    internal async Task<IReadOnlyDictionary<string, string>> FieldTypesAsync(string pattern, string field, CancellationToken cancellationToken)
    {
        var response = await RawAsync(EsHttpMethod.GET, $"/{Uri.EscapeDataString(pattern)}/_mapping?ignore_unavailable=true&allow_no_indices=true", null, cancellationToken);
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        if (response.Status == 404)
        {
            return types;
        }

        if (response.Status is not (>= 200 and < 300))
        {
            ThrowFor(response, $"reading the mappings of \"{pattern}\"");
        }

        foreach (var (index, node) in response.Body as JsonObject ?? [])
        {
            JsonNode? mapping = node?["mappings"];
            foreach (var part in field.Split('.'))
            {
                mapping = mapping?["properties"]?[part] ?? mapping?["fields"]?[part];
            }

            if (mapping?["type"]?.GetValue<string>() is { } type)
            {
                types[index] = type;
            }
        }

        return types;
    }

    private async Task<HashSet<string>> MappedFieldsAsync(string index, CancellationToken cancellationToken)
    {
        var response = await RawAsync(EsHttpMethod.GET, $"/{Uri.EscapeDataString(index)}/_mapping", null, cancellationToken);
        if (response.Status is not (>= 200 and < 300))
        {
            ThrowFor(response, $"reading the mappings of index \"{index}\"");
        }

        var fields = new HashSet<string>(StringComparer.Ordinal);
        if (response.Body is JsonObject root)
        {
            foreach (var (_, node) in root)
            {
                if (node?["mappings"]?["properties"] is JsonObject properties)
                {
                    fields.UnionWith(properties.Select(p => p.Key));
                }
            }
        }

        return fields;
    }

    /// <summary>A truncate: every document of the target's indices is deleted with <c>_delete_by_query</c>
    /// after a refresh (it sees only refreshed documents). Each deleted document keeps a tombstone at its
    /// version + 1, so replays of what it held are stale; a replayed create of a key absent at the time of
    /// the truncate is not stopped.</summary>
    private async Task<int> TruncateAsync(string pattern, CancellationToken cancellationToken)
    {
        await RefreshAsync(pattern, cancellationToken);
        var deleted = await DeleteByQueryAsync(pattern, new MatchAllQuery(), cancellationToken);
        return (int)Math.Min(deleted, int.MaxValue);
    }

    /// <summary>Refreshes the indices of a pattern so that search sees every write; a missing index is fine.</summary>
    public async Task RefreshAsync(string pattern, CancellationToken cancellationToken)
    {
        await RetryAsync(
            () => _client.Indices.RefreshAsync(new Elastic.Clients.Elasticsearch.IndexManagement.RefreshRequest(pattern) { IgnoreUnavailable = true, AllowNoIndices = true }, cancellationToken),
            $"refreshing \"{pattern}\"",
            cancellationToken);
    }

    public async Task<long> DeleteByQueryAsync(string pattern, Query query, CancellationToken cancellationToken)
    {
        var response = await RetryAsync(
            () => _client.DeleteByQueryAsync(new DeleteByQueryRequest(pattern)
            {
                Query = query,
                Conflicts = Conflicts.Proceed,
                Refresh = true,
                IgnoreUnavailable = true,
                AllowNoIndices = true,
            }, cancellationToken),
            $"_delete_by_query on \"{pattern}\"",
            cancellationToken);
        return response.Deleted ?? 0;
    }

    /// <summary>Deletes documents by id with the given external versions (erasure markers); returns how many
    /// existed. A conflict means the document already holds the marker.</summary>
    public async Task<long> DeleteVersionedAsync(IReadOnlyList<(string Index, string Id, long Version)> documents, CancellationToken cancellationToken) =>
        (await DeleteVersionedCountingAsync(documents, cancellationToken)).Removed;

    /// <summary>As <see cref="DeleteVersionedAsync"/>, also counting the deletes that took effect: a
    /// document removed, or the tombstone of a missing one recorded (404 <c>not_found</c>); a version
    /// conflict (a version as high is held already) is neither.</summary>
    private async Task<(long Removed, long Applied)> DeleteVersionedCountingAsync(IReadOnlyList<(string Index, string Id, long Version)> documents, CancellationToken cancellationToken)
    {
        if (documents.Count == 0)
        {
            return (0, 0);
        }

        var operations = new BulkOperationsCollection();
        foreach (var (index, id, version) in documents)
        {
            operations.Add(new BulkDeleteOperation(id) { Index = index, Version = version, VersionType = VersionType.External });
        }

        var response = await RetryAsync(
            () => _client.BulkAsync(new BulkRequest { Operations = operations, Refresh = Refresh.True }, cancellationToken),
            "erasing by id",
            cancellationToken);
        long removed = 0, applied = 0;
        foreach (var item in response.Items)
        {
            var outcome = ElasticsearchErrorClassifier.ClassifyItem(item.Status, item.Error?.Type);
            if (outcome == ItemOutcome.Applied)
            {
                applied++;
                removed += item.Result == "deleted" ? 1 : 0;
            }
            else if (outcome is ItemOutcome.Fatal or ItemOutcome.Poison or ItemOutcome.Transient)
            {
                throw new SinkUnavailableException(
                    $"elasticsearch sink '{_sinkName}': erasing a document of index \"{item.Index}\" failed: {item.Status} {item.Error?.Type}: {ElasticsearchErrorClassifier.Sanitize(item.Error?.Reason, item.Id)}");
            }
        }

        return (removed, applied);
    }

    /// <summary>Leaves the erasure marker on each id of <paramref name="index"/> that holds no document:
    /// a realtime <c>_mget</c> (it reads the latest write of an id, refreshed or not) finds the live
    /// ones, which are left alone, then a <c>_bulk</c> of deletes by id at
    /// <see cref="ExternalVersions.Erased"/> records the tombstone of each missing document (kept for
    /// <c>index.gc_deletes</c>). Returns the markers written; an id whose tombstone is at that version
    /// already conflicts and counts 0.
    /// Elasticsearch has no delete that applies only to a missing document at an external version
    /// (<c>if_seq_no</c> needs a document to compare with and cannot be combined with
    /// <c>version_type=external</c>), so a document indexed between the read and the delete — a
    /// change of the key written by another process at that moment — is deleted by the marker: it is
    /// ordered after the marking, as it would be had it arrived a moment later, when the marker would
    /// have made it stale. A document present when the marking starts is never touched.</summary>
    public async Task<long> MarkErasedAsync(string index, IReadOnlyList<string> ids, CancellationToken cancellationToken)
    {
        var path = "/" + Uri.EscapeDataString(index) + "/_mget?_source=false&realtime=true";
        var body = new JsonObject { ["ids"] = new JsonArray([.. ids.Select(id => (JsonNode?)JsonValue.Create(id))]) };
        var found = await RawAsync(EsHttpMethod.POST, path, body, cancellationToken);
        if (found.Status is not (>= 200 and < 300) || found.Body?["docs"] is not JsonArray docs || docs.Count != ids.Count)
        {
            ThrowFor(found, $"reading {ids.Count} documents of index \"{index}\"");
            return 0;
        }

        var absent = new List<(string Index, string Id, long Version)>();
        for (var i = 0; i < ids.Count; i++)
        {
            var doc = docs[i];
            if (doc?["error"] is { } error)
            {
                throw new SinkUnavailableException(
                    $"elasticsearch sink '{_sinkName}': reading a document of index \"{index}\" failed: {error["type"]?.GetValue<string>()}: {ElasticsearchErrorClassifier.Sanitize(error["reason"]?.GetValue<string>(), ids[i])}");
            }

            if (doc?["found"]?.GetValue<bool>() != true)
            {
                absent.Add((index, ids[i], ExternalVersions.Erased));
            }
        }

        return (await DeleteVersionedCountingAsync(absent, cancellationToken)).Applied;
    }

    /// <summary>Runs a request, retrying transient failures (no answer, 429, 502-504) with the sink's backoff.
    /// A 404 <c>index_not_found_exception</c> is returned to the caller; any other failure throws.</summary>
    public Task<TResponse> RetryAsync<TResponse>(Func<Task<TResponse>> send, string what, CancellationToken cancellationToken)
        where TResponse : Elastic.Transport.Products.Elasticsearch.ElasticsearchResponse =>
        _retry.RunAsync(
            async _ =>
            {
                var response = await send();
                var status = response.ApiCallDetails.HttpStatusCode;
                if (status is >= 200 and < 300 || (status == 404 && response.ElasticsearchServerError?.Error?.Type is null or "index_not_found_exception"))
                {
                    return Attempt<TResponse>.Done(response);
                }

                var description = DescribeFailure(response);
                if (ElasticsearchErrorClassifier.ClassifyRequest(status) != ErrorVerdict.Transient
                    || CertificateFailure(response.ApiCallDetails.OriginalException) is not null)
                {
                    throw new SinkFatalException($"elasticsearch sink '{_sinkName}': {what} failed: {description}",
                        response.ApiCallDetails.OriginalException ?? new InvalidOperationException(description));
                }

                return Attempt<TResponse>.Transient(attempts => new SinkUnavailableException($"elasticsearch sink '{_sinkName}': {what} still failed after {attempts} attempts: {description}",
                    response.ApiCallDetails.OriginalException ?? new InvalidOperationException(description)));
            },
            null,
            cancellationToken);

    public async Task<IReadOnlyDictionary<string, StreamPosition>> LoadCheckpointAsync(string materializer, CancellationToken cancellationToken)
    {
        var result = await ReadCheckpointDocumentAsync(materializer, cancellationToken);
        _checkpoints[materializer] = new Dictionary<string, StreamPosition>(result, StringComparer.Ordinal);
        foreach (var (name, declaration) in await ReadCheckpointDocumentAsync(DeclarationsOf(materializer), cancellationToken))
        {
            result[name] = declaration;
        }

        foreach (var (name, agreed) in await ReadCheckpointDocumentAsync(AgreementsOf(materializer), cancellationToken))
        {
            result[name] = agreed;
        }

        return result;
    }

    private async Task<Dictionary<string, StreamPosition>> ReadCheckpointDocumentAsync(string materializer, CancellationToken cancellationToken)
    {
        var response = await RetryAsync(
            () => _client.GetAsync<CheckpointDocument>(new GetRequest(_options.CheckpointIndex, materializer), cancellationToken),
            $"reading the checkpoint of '{materializer}'",
            cancellationToken);
        var result = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        if (response.Found && response.Source?.Positions is { } positions)
        {
            foreach (var entry in positions)
            {
                if (entry.Stream is not null && entry.Position is not null)
                {
                    result[entry.Stream] = StreamPosition.Parse(entry.Position);
                }
            }
        }

        return result;
    }

    /// <summary>Writes the materializer's checkpoint document after the batch's bulk succeeded: the stored
    /// positions merged with the batch's (with an expected checkpoint, on that condition:
    /// <see cref="StoreCheckpointIfHeldAsync"/>). GET is realtime, so no refresh is needed to read it back.</summary>
    private async Task StoreCheckpointAsync(
        string materializer, IReadOnlyDictionary<string, StreamPosition> checkpoint, IReadOnlyDictionary<string, StreamPosition>? expected, CancellationToken cancellationToken)
    {
        checkpoint = await StoreDeclarationsAsync(materializer, checkpoint, cancellationToken);
        if (checkpoint.Count == 0)
        {
            return;
        }

        if (expected is { Count: > 0 })
        {
            await StoreCheckpointIfHeldAsync(materializer, checkpoint, expected, cancellationToken);
            return;
        }

        if (!_checkpoints.TryGetValue(materializer, out var stored))
        {
            await LoadCheckpointAsync(materializer, cancellationToken);
            stored = _checkpoints[materializer];
        }

        var merged = new Dictionary<string, StreamPosition>(stored, StringComparer.Ordinal);
        foreach (var (stream, position) in checkpoint)
        {
            merged[stream] = position;
        }

        await WriteCheckpointAsync(materializer, merged, cancellationToken);
    }

    /// <summary>Creates the checkpoint index when absent.</summary>
    /// <summary>The oldest server major this client can talk to. Elastic.Clients.Elasticsearch 9.x sends
    /// <c>Accept</c>/<c>Content-Type: application/vnd.elasticsearch+json;compatible-with=9</c> on every
    /// request (the major of the client assembly: elastic/elastic-transport-net
    /// src/Elastic.Transport/Products/Elasticsearch/ElasticsearchProductRegistration.cs, DefaultMimeType),
    /// and a server accepts only its own major and the one before it (elastic/elasticsearch
    /// server/src/main/java/org/elasticsearch/rest/RestCompatibleVersionHelper.java: otherwise 400
    /// "Accept version must be either version N or N-1, but found 9"). So 9.x servers (and a future
    /// 10.x) answer, and every 8.x server refuses every request.</summary>
    internal const int OldestServerMajor = 9;

    /// <summary><c>GET /</c>: refuses, with the version found and what to do, a server this client
    /// cannot talk to; answers nothing else (a 401 or an unreachable node is left to the next request,
    /// which says so in its own words).</summary>
    /// <returns>The cluster's <c>cluster_uuid</c>, when it said.</returns>
    public async Task<string?> CheckServerVersionAsync(CancellationToken cancellationToken)
    {
        var info = await RawAsync(EsHttpMethod.GET, "/", null, cancellationToken);
        var url = string.Join(", ", _options.Urls.Select(u => Uri.TryCreate(u, UriKind.Absolute, out var uri) ? $"{uri.Scheme}://{uri.Host}:{uri.Port}" : "(unparsable url)"));
        const string fix = "use an Elasticsearch 9.x cluster (upgrade the cluster: 8.19 upgrades to 9.x in place), or run a sync release built on the 8.x .NET client for an 8.x cluster";
        if (info.Status == 400 && info.Body?["error"]?["reason"]?.GetValue<string>() is { } reason
            && reason.StartsWith("Accept version must be either version ", StringComparison.Ordinal))
        {
            var major = new string([.. reason["Accept version must be either version ".Length..].TakeWhile(char.IsAsciiDigit)]);
            throw new SinkFatalException(
                $"elasticsearch sink '{_sinkName}': the server at {url} is Elasticsearch {major}.x, which refuses the requests of this sink's client (compatible-with=9; the server said: {reason}); {fix}");
        }

        if (info.Status == 200 && info.Body?["version"]?["number"]?.GetValue<string>() is { } number
            && int.TryParse(number.Split('.')[0], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var found)
            && found < OldestServerMajor)
        {
            throw new SinkFatalException(
                $"elasticsearch sink '{_sinkName}': the server at {url} is Elasticsearch {number}; this sink's client speaks the REST API of 9.x (compatible-with=9), which servers before 9.0 refuse; {fix}");
        }

        return info.Status == 200 ? info.Body?["cluster_uuid"]?.GetValue<string>() : null;
    }

    public async Task EnsureCheckpointIndexAsync(CancellationToken cancellationToken)
    {
        var index = _options.CheckpointIndex;
        var exists = await RawAsync(EsHttpMethod.HEAD, "/" + Uri.EscapeDataString(index), null, cancellationToken);
        if (exists.Status == 200)
        {
            return;
        }

        if (exists.Status != 404)
        {
            ThrowFor(exists, $"checking the checkpoint index \"{index}\"");
        }

        var created = await RawAsync(EsHttpMethod.PUT, "/" + Uri.EscapeDataString(index), ElasticsearchMappings.CheckpointIndexBody(), cancellationToken);
        if (created.Status is not (>= 200 and < 300) && created.ErrorType != "resource_already_exists_exception")
        {
            ThrowFor(created, $"creating the checkpoint index \"{index}\"");
        }
    }

    /// <summary>A request with a JSON body we build (index creation, mappings) through the client's transport.</summary>
    private async Task<RawResponse> RawAsync(EsHttpMethod method, string path, JsonObject? body, CancellationToken cancellationToken)
    {
        var response = await SendRetryingAsync<StringResponse>(method, path, body?.ToJsonString(), $"{method} {path}", Parse, cancellationToken);
        return Parse(response);

        static RawResponse Parse(StringResponse response)
        {
            JsonNode? parsed = null;
            try
            {
                parsed = string.IsNullOrEmpty(response.Body) ? null : JsonNode.Parse(response.Body);
            }
            catch (JsonException)
            {
                // Not JSON (a proxy's error page): keep the status only.
            }

            return new RawResponse(response.ApiCallDetails.HttpStatusCode, parsed, response.ApiCallDetails.OriginalException);
        }
    }

    /// <summary>Sends a request through the client's transport, retrying transient failures (no answer,
    /// 429, 502-504) with the sink's backoff. A refused certificate (refused again on the next attempt)
    /// and a transient failure past the retry budget throw, described by <paramref name="describe"/>;
    /// any other answer is returned.</summary>
    private Task<TResponse> SendRetryingAsync<TResponse>(
        EsHttpMethod method, string path, string? body, string what, Func<TResponse, RawResponse> describe, CancellationToken cancellationToken)
        where TResponse : TransportResponse, new() =>
        _retry.RunAsync(
            async _ =>
            {
                var endpoint = new EndpointPath(method, path);
                var response = await _client.Transport.RequestAsync<TResponse>(in endpoint, body is null ? null : PostData.String(body), null, null, cancellationToken);
                var status = response.ApiCallDetails.HttpStatusCode;
                if (CertificateFailure(response.ApiCallDetails.OriginalException) is not null)
                {
                    ThrowFor(describe(response), what);
                }

                if (ElasticsearchErrorClassifier.ClassifyRequest(status) == ErrorVerdict.Transient && !(status is >= 200 and < 300))
                {
                    return Attempt<TResponse>.Transient(attempts =>
                    {
                        var result = describe(response);
                        return new SinkUnavailableException($"elasticsearch sink '{_sinkName}': {what} still failed after {attempts} attempts: {result.Describe()}",
                            result.Exception ?? new InvalidOperationException(result.Describe()));
                    });
                }

                return Attempt<TResponse>.Done(response);
            },
            null,
            cancellationToken);

    private void ThrowFor(RawResponse response, string what) =>
        throw new SinkFatalException($"elasticsearch sink '{_sinkName}': {what} failed: {response.Describe()}",
            response.Exception ?? new InvalidOperationException(response.Describe()));

    private static string DescribeFailure(Elastic.Transport.Products.Elasticsearch.ElasticsearchResponse response)
    {
        var details = response.ApiCallDetails;
        if (details.HttpStatusCode is not { } status)
        {
            return NoAnswer(details.OriginalException);
        }

        var error = response.ElasticsearchServerError?.Error;
        return error is null
            ? $"HTTP {status}"
            : $"HTTP {status} {error.Type}: {ElasticsearchErrorClassifier.Sanitize(error.Reason, null)}";
    }

    private static string NoAnswer(Exception? error) =>
        CertificateFailure(error) is { } tls
            ? $"the TLS handshake failed, the cluster's certificate was not accepted ({tls.Message}); "
                + "check caFingerprint (SHA-256 of the CA that issued the cluster's certificate) or the system trust store"
            : "no answer: " + (error?.Message ?? "the connection failed");

    /// <summary>The TLS handshake failure behind a request that got no answer, if that is what it was.</summary>
    private static System.Security.Authentication.AuthenticationException? CertificateFailure(Exception? error)
    {
        for (var inner = error; inner is not null; inner = inner.InnerException)
        {
            if (inner is System.Security.Authentication.AuthenticationException authentication)
            {
                return authentication;
            }
        }

        return null;
    }

    /// <summary>How many ids one <c>_mget</c> of <see cref="FillAsync"/> reads.</summary>
    internal const int MultiGetIds = 1000;

    /// <summary>
    /// Gives each partial upsert (a row with columns the source did not send: unchanged TOASTed values) its
    /// whole document: a realtime <c>_mget</c> of those ids per index (it sees the latest write of an id,
    /// refreshed or not) reads the stored <c>_source</c>, whose values fill the unsent columns as raw JSON,
    /// exactly as stored (the whole source is read: source filtering would parse and rewrite it). A column
    /// without a stored value (no document, a deleted one, or one without the field) is null, and the change
    /// is counted as unavailable once applied. The bulk then indexes the documents with their external
    /// versions as usual, so never-regress is unchanged: a document stored at a newer version between the
    /// read and the write makes the index fail with a version conflict, and the change is stale.
    /// A <c>_bulk</c> <c>update</c> could merge on the server, but it does not take <c>version_type=external</c>
    /// (elastic/elasticsearch BulkRequestParser: "Update requests do not support versioning"; the update API
    /// docs, https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-update, offer only
    /// <c>if_seq_no</c>/<c>if_primary_term</c>), and an update bumps the internal version, which would break the
    /// external version order of every later write. See docs/architecture.md.
    /// </summary>
    private async Task<List<Prepared>> FillAsync(List<Prepared> segment, BatchContext context, CancellationToken cancellationToken)
    {
        var stored = new Dictionary<(string Index, string Id), JsonElement>();
        var documents = new List<JsonDocument>();
        try
        {
            foreach (var group in segment.Where(p => p.Partial).GroupBy(p => p.Index, StringComparer.Ordinal))
            {
                var ids = group.Select(p => p.Id).Distinct(StringComparer.Ordinal).ToList();
                for (var start = 0; start < ids.Count; start += MultiGetIds)
                {
                    var chunk = ids.GetRange(start, Math.Min(MultiGetIds, ids.Count - start));
                    var document = await MultiGetSourcesAsync(group.Key, chunk, cancellationToken);
                    documents.Add(document);
                    var docs = document.RootElement.GetProperty("docs");
                    var i = 0;
                    foreach (var doc in docs.EnumerateArray())
                    {
                        var id = chunk[i++];
                        if (doc.TryGetProperty("error", out var error))
                        {
                            if (error.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.GetString() == "index_not_found_exception")
                            {
                                continue;
                            }

                            throw new SinkUnavailableException(
                                $"elasticsearch sink '{_sinkName}': reading a document of index \"{group.Key}\" to keep the columns its change did not send failed: {ErrorText(error, id)}");
                        }

                        if (doc.TryGetProperty("found", out var found) && found.ValueKind == JsonValueKind.True && doc.TryGetProperty("_source", out var source))
                        {
                            stored[(group.Key, id)] = source;
                        }
                    }
                }
            }

            var filled = new List<Prepared>(segment.Count);
            foreach (var p in segment)
            {
                if (!p.Partial)
                {
                    filled.Add(p);
                    continue;
                }

                try
                {
                    var document = Document(p.Change.After!, stored.TryGetValue((p.Index, p.Id), out var source) ? source : null, out var unfilled);
                    filled.Add(p with { Document = document, Partial = false, Unfilled = unfilled });
                }
                catch (Exception e) when (e is JsonException or ArgumentException or InvalidOperationException)
                {
                    context.Reject(p.Change, $"index \"{p.Index}\" (key {DocumentIds.Describe(p.Change.Key.Names)}): the row cannot be written as JSON: {e.GetType().Name}");
                }
            }

            return filled;
        }
        finally
        {
            foreach (var document in documents)
            {
                document.Dispose();
            }
        }
    }

    /// <summary>A realtime <c>_mget</c> of <paramref name="ids"/> in <paramref name="index"/> with their whole
    /// <c>_source</c>, parsed as the server sent it (raw values kept); retried like the sink's other requests.</summary>
    private async Task<JsonDocument> MultiGetSourcesAsync(string index, List<string> ids, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["ids"] = new JsonArray([.. ids.Select(id => (JsonNode?)JsonValue.Create(id))]) }.ToJsonString();
        var what = $"reading {ids.Count} documents of index \"{index}\" (_mget)";
        var path = "/" + Uri.EscapeDataString(index) + "/_mget?realtime=true";

        // Bytes, not a JsonNode: the stored values are copied into documents exactly as the server sent them.
        var response = await SendRetryingAsync<BytesResponse>(
            EsHttpMethod.POST, path, body, what, r => new RawResponse(r.ApiCallDetails.HttpStatusCode, null, r.ApiCallDetails.OriginalException), cancellationToken);
        var status = response.ApiCallDetails.HttpStatusCode;
        if (status is not (>= 200 and < 300) || response.Body is not { Length: > 0 } bytes)
        {
            ThrowFor(new RawResponse(status, null, response.ApiCallDetails.OriginalException), what);
            throw new UnreachableException();
        }

        var document = JsonDocument.Parse(bytes);
        if (document.RootElement.TryGetProperty("docs", out var docs) && docs.ValueKind == JsonValueKind.Array && docs.GetArrayLength() == ids.Count)
        {
            return document;
        }

        document.Dispose();
        throw new SinkFatalException($"elasticsearch sink '{_sinkName}': _mget of {ids.Count} documents of index \"{index}\" answered without one doc per id", new InvalidOperationException("_mget answer"));
    }

    private static string ErrorText(JsonElement error, string id)
    {
        var type = error.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        var reason = error.TryGetProperty("reason", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
        return $"{type}: {ElasticsearchErrorClassifier.Sanitize(reason, id)}";
    }

    /// <param name="Document">The <c>_source</c> to index; null for a delete.</param>
    private sealed record Prepared(ChangeEvent Change, string Index, string Id, long Version, byte[]? Document)
    {
        /// <summary>The row has columns the source did not send; <see cref="Document"/> is built by <see cref="FillAsync"/>.</summary>
        public bool Partial { get; init; }

        /// <summary>A column the source did not send had no stored value and is null in <see cref="Document"/>.</summary>
        public bool Unfilled { get; init; }
    }

    private sealed record RawResponse(int? Status, JsonNode? Body, Exception? Exception)
    {
        public string? ErrorType => Body?["error"]?["type"]?.GetValue<string>();

        public string Describe()
        {
            if (Status is not { } status)
            {
                return NoAnswer(Exception);
            }

            var reason = Body?["error"]?["reason"]?.GetValue<string>();
            return ErrorType is null ? $"HTTP {status}" : $"HTTP {status} {ErrorType}: {ElasticsearchErrorClassifier.Sanitize(reason, null)}";
        }
    }

    private sealed class BatchContext : BatchTally;
}

/// <summary>A document whose JSON we already wrote: serialized verbatim into the bulk body.</summary>
[JsonConverter(typeof(RawDocumentConverter))]
internal sealed class RawDocument(byte[] utf8Json)
{
    public byte[] Utf8Json { get; } = utf8Json;
}

internal sealed class RawDocumentConverter : JsonConverter<RawDocument>
{
    public override RawDocument Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        return new RawDocument(JsonSerializer.SerializeToUtf8Bytes(document.RootElement));
    }

    public override void Write(Utf8JsonWriter writer, RawDocument value, JsonSerializerOptions options) =>
        writer.WriteRawValue(value.Utf8Json, skipInputValidation: true);
}

/// <summary>The checkpoint of one materializer in the checkpoint index (id = the materializer's name).</summary>
internal sealed class CheckpointDocument
{
    [JsonPropertyName("materializer")]
    public string? Materializer { get; set; }

    /// <summary>An array rather than an object keyed by topic: topic names hold dots, which Elasticsearch
    /// would expand into nested objects.</summary>
    [JsonPropertyName("positions")]
    public List<CheckpointPosition>? Positions { get; set; }

    [JsonPropertyName("updated_at")]
    public DateTimeOffset UpdatedAt { get; set; }
}

internal sealed class CheckpointPosition
{
    [JsonPropertyName("stream")]
    public string? Stream { get; set; }

    [JsonPropertyName("position")]
    public string? Position { get; set; }
}
