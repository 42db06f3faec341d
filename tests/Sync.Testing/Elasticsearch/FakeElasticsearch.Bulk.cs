using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Sync.Testing.Elasticsearch;

/// <summary>POST /_bulk and /{index}/_bulk.</summary>
public sealed partial class FakeElasticsearch
{
    /// <summary>
    /// https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-bulk: NDJSON, an action line
    /// (<c>index</c>, <c>create</c>, <c>delete</c>, with <c>_index</c>, <c>_id</c>, <c>version</c>,
    /// <c>version_type</c>, <c>if_seq_no</c>) followed by a source line for index and create. The body must
    /// end with a newline. Malformed lines and request-level validation failures (an <c>_id</c> over 512
    /// bytes, internal versioning with a version) fail the whole request with 400. Otherwise every item is
    /// executed on its own, in order, and answered in <c>items</c> with its own <c>status</c> and, on
    /// failure, <c>error</c>; <c>errors</c> is true when any item failed. The response is 200 whatever the items did.
    /// </summary>
    private Reply Bulk(string? defaultIndex, Dictionary<string, string> query, byte[] body)
    {
        var started = Stopwatch.GetTimestamp();
        if (body.Length == 0)
        {
            return Error(400, "action_request_validation_exception", "Validation Failed: 1: no requests added;");
        }

        if (body[^1] != (byte)'\n')
        {
            return Error(400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]");
        }

        var lines = Encoding.UTF8.GetString(body).Split('\n');
        var actions = new List<(WriteAction Action, JsonObject? Source, string? Raw)>();
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0)
            {
                continue;
            }

            JsonObject header;
            try
            {
                header = JsonNode.Parse(line) as JsonObject ?? throw new JsonException("not an object");
            }
            catch (JsonException e)
            {
                return Error(400, "x_content_parse_exception", $"[{i + 1}:1] Malformed action/metadata line [{i + 1}]: {e.Message}");
            }

            if (header.Count != 1)
            {
                return Error(400, "illegal_argument_exception", $"Malformed action/metadata line [{i + 1}], expected a simple value for field [_index] but found [START_OBJECT]");
            }

            var (op, node) = header.First();
            if (op is not ("index" or "create" or "delete"))
            {
                return Error(400, "illegal_argument_exception", $"Malformed action/metadata line [{i + 1}], expected one of [create, delete, index, update] but found [{op}]"
                    + (op == "update" ? " (update is not modelled by the fake)" : string.Empty));
            }

            var meta = node as JsonObject ?? [];
            var index = meta["_index"]?.GetValue<string>() ?? defaultIndex;
            if (index is null)
            {
                return Error(400, "action_request_validation_exception", "Validation Failed: 1: index is missing;");
            }

            var id = meta["_id"]?.GetValue<string>();
            if (id is null && op == "delete")
            {
                return Error(400, "action_request_validation_exception", "Validation Failed: 1: id is missing;");
            }

            id ??= "fake-" + Interlocked.Increment(ref _autoId).ToString(System.Globalization.CultureInfo.InvariantCulture);
            var action = new WriteAction(op, index, id, meta["version"]?.GetValue<long>(), meta["version_type"]?.GetValue<string>(), meta["if_seq_no"]?.GetValue<long>());
            JsonObject? source = null;
            string? raw = null;
            if (op != "delete")
            {
                i++;
                if (i >= lines.Length || lines[i].Trim().Length == 0)
                {
                    return Error(400, "illegal_argument_exception", $"Malformed action/metadata line [{i}]: the {op} action has no source line");
                }

                try
                {
                    raw = lines[i].TrimEnd('\r');
                    source = JsonNode.Parse(raw) as JsonObject;
                }
                catch (JsonException)
                {
                    // Executed as an item that fails to parse, as the server does with a bad source line.
                }
            }

            if (action.Validate(hasSource: true) is { } invalid)
            {
                return Error(400, "action_request_validation_exception", $"Validation Failed: 1: {invalid};");
            }

            actions.Add((action, source, raw));
        }

        _bulkSizes.Add(actions.Count);
        var items = new JsonArray();
        var touched = new HashSet<FakeIndex>();
        var errors = false;
        foreach (var (action, source, raw) in actions)
        {
            JsonObject item;
            if (Faults.TakeItemFault() is { } fault)
            {
                item = new JsonObject
                {
                    ["_index"] = action.Index,
                    ["_id"] = action.Id,
                    ["status"] = fault.Status,
                    ["error"] = ErrorCause(fault.Type, fault.Reason, action.Index),
                };
            }
            else if (WriteIndex(action.Index, out var indexError) is not { } index)
            {
                var status = indexError!["type"]!.GetValue<string>() == "index_not_found_exception" ? 404 : 400;
                item = new JsonObject { ["_index"] = action.Index, ["_id"] = action.Id, ["status"] = status, ["error"] = indexError };
            }
            else if (action.Op != "delete" && source is null)
            {
                item = new JsonObject
                {
                    ["_index"] = index.Name,
                    ["_id"] = action.Id,
                    ["status"] = 400,
                    ["error"] = ErrorCause("document_parsing_exception", "[1:1] failed to parse: the source line is not a JSON object", index.Name),
                };
            }
            else
            {
                touched.Add(index);
                (_, item) = Execute(index, action, source, raw);
            }

            var itemStatus = item["status"]!.GetValue<int>();
            errors |= itemStatus >= 400 && !(action.Op == "delete" && itemStatus == 404 && item["error"] is null);
            items.Add(new JsonObject { [action.Op] = item });
        }

        AfterWrite(touched, query, null);
        if (query.TryGetValue("refresh", out var refresh) && refresh is "true" or "")
        {
            foreach (var item in items)
            {
                var inner = (JsonObject)item!.AsObject().First().Value!;
                if (inner["error"] is null)
                {
                    inner["forced_refresh"] = true;
                }
            }
        }

        return new Reply(200, new JsonObject
        {
            ["errors"] = errors,
            ["took"] = (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds,
            ["items"] = items,
        });
    }
}
