using System.Text.Json.Nodes;
using Elastic.Clients.Elasticsearch;
using EsHttpMethod = Elastic.Transport.HttpMethod;

namespace Sync.Sinks.Elasticsearch;

/// <summary>Shadow backfill: a new concrete index <c>&lt;index&gt;-g&lt;N&gt;</c>, then one <c>POST /_aliases</c>
/// that points the alias <c>&lt;index&gt;</c> at it (atomic: every action of the request applies together).</summary>
internal sealed partial class ElasticsearchWriter
{
    private const string GenerationMark = "-g";

    /// <summary>True when a create-index error says the name is an alias ("already exists as alias").</summary>
    private static bool IsAliasName(RawResponse response) =>
        response.ErrorType == "invalid_index_name_exception"
        && (response.Body?["error"]?["reason"]?.GetValue<string>() ?? string.Empty).Contains("already exists as alias", StringComparison.Ordinal);

    /// <summary>What the live name is now: absent, a concrete index, or an alias with its indices.</summary>
    internal async Task<(bool Exists, bool IsAlias, List<string> Indices)> ResolveLiveAsync(string live, CancellationToken cancellationToken)
    {
        var response = await RawAsync(EsHttpMethod.GET, "/" + Uri.EscapeDataString(live), null, cancellationToken);
        if (response.Status == 404)
        {
            return (false, false, []);
        }

        if (response.Status is not (>= 200 and < 300) || response.Body is not JsonObject indices)
        {
            ThrowFor(response, $"reading index \"{live}\"");
            return default;
        }

        var names = indices.Select(i => i.Key).ToList();
        return (true, !names.Contains(live, StringComparer.Ordinal), names);
    }

    /// <summary>The live index name of a target, or why it cannot have a shadow.</summary>
    private static string LiveIndex(TargetSpec target, ElasticsearchTargetOptions options)
    {
        var template = options.IndexTemplate(target.Table);
        if (ElasticsearchTargetOptions.IsTemplate(template))
        {
            throw new ShadowSwapException($"index template \"{template}\" names an index per row value; --shadow needs one index name");
        }

        if (options.Alias is not null)
        {
            throw new ShadowSwapException($"index \"{template}\" has an alias option ({options.Alias}); --shadow makes \"{template}\" itself an alias and does not move other aliases: remove the alias option");
        }

        if (!options.CreateIndex)
        {
            throw new ShadowSwapException($"index \"{template}\" has createIndex: false; --shadow creates a new index and needs createIndex: true");
        }

        return template;
    }

    /// <summary>Picks the next generation's index name, deletes what an unfinished build of it left and
    /// the shadow's checkpoint. Returns the shadow index and the live checkpoint.</summary>
    public async Task<(string Shadow, IReadOnlyDictionary<string, StreamPosition> LiveCheckpoint)> BeginShadowAsync(TargetSpec target, string materializer, string checkpointName, CancellationToken cancellationToken)
    {
        var options = target.Options as ElasticsearchTargetOptions ?? new ElasticsearchTargetOptions();
        var live = LiveIndex(target, options);
        var (_, isAlias, indices) = await ResolveLiveAsync(live, cancellationToken);
        var generation = isAlias
            ? indices.Select(i => GenerationOf(live, i)).DefaultIfEmpty(0).Max() + 1
            : 1;
        var shadow = live + GenerationMark + generation.ToString(CultureInfo.InvariantCulture);
        var deleted = await RawAsync(EsHttpMethod.DELETE, "/" + Uri.EscapeDataString(shadow), null, cancellationToken);
        if (deleted.Status == 400 && deleted.ErrorType == "illegal_argument_exception"
            && (deleted.Body?["error"]?["reason"]?.GetValue<string>() ?? string.Empty).Contains("matches an alias", StringComparison.Ordinal))
        {
            // DELETE /{name} of an alias is 400 and deletes nothing (indices.delete/10_basic.yml,
            // "Delete index against alias"): the name is somebody else's alias, never ours to write through.
            throw new ShadowSwapException(
                $"index \"{live}\": the next shadow index name \"{shadow}\" is already taken by an alias, so the backfill stops before writing anything; \"{live}\" is untouched; remove or rename the alias \"{shadow}\" (POST /_aliases with a remove action) and run the backfill again");
        }

        if (deleted.Status is not (>= 200 and < 300 or 404))
        {
            ThrowFor(deleted, $"deleting the unfinished shadow index \"{shadow}\"");
        }

        _indices.Remove(shadow);
        _bulkShadows.Remove(shadow);
        if (_options.BulkShadow)
        {
            BeginBulkLoad(shadow);
        }

        await DeleteCheckpointAsync(checkpointName, cancellationToken);
        return (shadow, await LoadCheckpointAsync(materializer, cancellationToken));
    }

    /// <summary>Refuses when the live checkpoint moved; sets back what a bulk load turned off
    /// (ElasticsearchWriter.BulkShadow.cs) and refreshes the shadow index; points the alias at it
    /// in one <c>POST /_aliases</c> (removing the old index from the alias, or deleting the old index
    /// with <c>remove_index</c> in the same request — also how a concrete index of the live name is
    /// replaced by the alias the first time); then moves the shadow's checkpoint to the materializer.</summary>
    public async Task<ShadowSwap> SwapShadowAsync(ShadowTarget target, bool keepOld, CancellationToken cancellationToken)
    {
        var options = target.Live.Options as ElasticsearchTargetOptions ?? new ElasticsearchTargetOptions();
        var live = LiveIndex(target.Live, options);
        var shadow = ((ElasticsearchTargetOptions)target.Shadow.Options!).Index!;
        var now = await LoadCheckpointAsync(target.Materializer, cancellationToken);
        if (target.LiveCheckpointMoved(now))
        {
            throw new ShadowSwapException(
                $"index \"{live}\": the checkpoint of '{target.Materializer}' moved during the backfill, so a `sync run` wrote to the live index; \"{live}\" is untouched and the shadow index \"{shadow}\" is left; stop `sync run` for '{target.Materializer}' and run the backfill again");
        }

        var exists = await RawAsync(EsHttpMethod.HEAD, "/" + Uri.EscapeDataString(shadow), null, cancellationToken);
        if (exists.Status != 200)
        {
            throw new ShadowSwapException($"the shadow index \"{shadow}\" does not exist: the backfill wrote no document; \"{live}\" is untouched");
        }

        await EndBulkLoadAsync(shadow, cancellationToken);
        await RefreshAsync(shadow, cancellationToken);
        string old;
        for (var attempt = 1; ; attempt++)
        {
            var (actions, described) = await SwapActionsAsync(live, shadow, keepOld, cancellationToken);
            old = described;
            var swapped = await RawAsync(EsHttpMethod.POST, "/_aliases", new JsonObject { ["actions"] = actions }, cancellationToken);
            if (swapped.Status is 404 && swapped.ErrorType is "aliases_not_found_exception" or "index_not_found_exception" && attempt < 3)
            {
                // The alias moved between reading it and the request (another swap, a hand edit): every
                // remove carries must_exist, so nothing applied; read the alias again and retry.
                continue;
            }

            if (swapped.Status is not (>= 200 and < 300))
            {
                ThrowFor(swapped, $"pointing alias \"{live}\" at index \"{shadow}\"");
            }

            if (swapped.Body?["errors"]?.GetValue<bool>() == true)
            {
                // Elasticsearch 8.14+ applies the other actions and answers 200 with errors: true and one
                // result per action (indices.update_aliases/40_must_exist.yml, "Partial success"): the
                // swap did not happen as asked, whatever the status says.
                var failures = (swapped.Body?["action_results"] as JsonArray ?? [])
                    .Where(r => r?["status"]?.GetValue<int>() is not (>= 200 and < 300))
                    .Select(r => $"{r?["action"]?.ToJsonString()} -> {r?["status"]} {r?["error"]?["type"]}: {r?["error"]?["reason"]}");
                throw new ShadowSwapException(
                    $"alias \"{live}\": POST /_aliases applied only part of the swap to index \"{shadow}\" (errors: true): {string.Join("; ", failures)}; check GET /_alias/{live} — it may point at more than one index — and fix it with POST /_aliases before running the backfill again");
            }

            break;
        }

        _indices.Remove(live);

        // After the alias moved: a crash before this leaves the live checkpoint where it was when the
        // shadow began (checked above), at or before the shadow's, and a replay from there is harmless.
        var positions = await LoadCheckpointAsync(target.CheckpointName, cancellationToken);
        await WriteCheckpointAsync(target.Materializer, positions, cancellationToken);
        await DeleteCheckpointAsync(target.CheckpointName, cancellationToken);
        return new ShadowSwap($"alias \"{live}\" -> index \"{shadow}\"", old, 0);
    }

    /// <summary>The actions of the swap as the live name is now, each <c>remove</c> with <c>must_exist</c>
    /// so that an alias moved meanwhile fails the whole request (404, nothing applied) instead of a
    /// partial swap (indices.update_aliases/40_must_exist.yml lines 44-59); and the fate of the old index.</summary>
    private async Task<(JsonArray Actions, string Old)> SwapActionsAsync(string live, string shadow, bool keepOld, CancellationToken cancellationToken)
    {
        var (liveExists, isAlias, indices) = await ResolveLiveAsync(live, cancellationToken);
        var actions = new JsonArray();
        string old;
        if (!liveExists)
        {
            old = "absent";
        }
        else if (isAlias)
        {
            foreach (var index in indices)
            {
                actions.Add(keepOld
                    ? new JsonObject { ["remove"] = new JsonObject { ["index"] = index, ["alias"] = live, ["must_exist"] = true } }
                    : new JsonObject { ["remove_index"] = new JsonObject { ["index"] = index } });
            }

            old = keepOld ? $"kept as index {string.Join(", ", indices.Select(i => $"\"{i}\""))}" : $"deleted (index {string.Join(", ", indices.Select(i => $"\"{i}\""))})";
        }
        else if (keepOld)
        {
            throw new ShadowSwapException(
                $"\"{live}\" is a concrete index, and an alias cannot take its name while it exists; run without --keep-old (the index is deleted in the same request that creates the alias), or copy it first with the _clone or _reindex API");
        }
        else
        {
            actions.Add(new JsonObject { ["remove_index"] = new JsonObject { ["index"] = live } });
            old = $"deleted (the concrete index \"{live}\" became an alias)";
        }

        actions.Add(new JsonObject { ["add"] = new JsonObject { ["index"] = shadow, ["alias"] = live } });
        return (actions, old);
    }

    private static long GenerationOf(string live, string index) =>
        index.StartsWith(live + GenerationMark, StringComparison.Ordinal)
        && long.TryParse(index.AsSpan(live.Length + GenerationMark.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0;

    private async Task WriteCheckpointAsync(string materializer, IReadOnlyDictionary<string, StreamPosition> positions, CancellationToken cancellationToken)
    {
        var document = new CheckpointDocument
        {
            Materializer = materializer,
            UpdatedAt = _time.GetUtcNow(),
            Positions = [.. positions.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new CheckpointPosition { Stream = p.Key, Position = p.Value.ToString() })],
        };
        await RetryAsync(
            () => _client.IndexAsync(new IndexRequest<CheckpointDocument>(document, _options.CheckpointIndex, materializer) { Refresh = RefreshParameter }, cancellationToken),
            $"writing the checkpoint of '{materializer}'",
            cancellationToken);
        _checkpoints[materializer] = new Dictionary<string, StreamPosition>(positions, StringComparer.Ordinal);
    }

    private async Task DeleteCheckpointAsync(string materializer, CancellationToken cancellationToken)
    {
        var response = await RawAsync(EsHttpMethod.DELETE, $"/{Uri.EscapeDataString(_options.CheckpointIndex)}/_doc/{Uri.EscapeDataString(materializer)}", null, cancellationToken);
        if (response.Status is not (>= 200 and < 300 or 404))
        {
            ThrowFor(response, $"deleting the checkpoint of '{materializer}'");
        }

        _checkpoints.Remove(materializer);
    }
}
