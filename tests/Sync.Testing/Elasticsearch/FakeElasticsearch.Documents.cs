using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Sync.Testing.Elasticsearch;

/// <summary>Single-document APIs (index, create, get, delete) and the versioning rules every write follows.</summary>
public sealed partial class FakeElasticsearch
{
    private static readonly System.Text.Json.Serialization.Metadata.JsonTypeInfo<RawJson> RawJsonInfo =
        System.Text.Json.Serialization.Metadata.JsonMetadataServices.CreateValueInfo<RawJson>(new JsonSerializerOptions { TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver() }, new RawJsonConverter());

    /// <summary>A stored <c>_source</c> as GET and _mget answer it: the original JSON body, byte for byte, not
    /// parsed and written again (https://www.elastic.co/docs/reference/elasticsearch/mapping-reference/mapping-source-field:
    /// <c>_source</c> holds the original JSON body passed at index time, returned by fetch requests such as get).
    /// Re-serializing would re-escape strings (<c>\"</c> as <c>\u0022</c>), which a client keeping stored values
    /// exactly would notice.</summary>
    internal static JsonNode RawSource(string json) => JsonValue.Create(new RawJson(json), RawJsonInfo)!;

    private sealed record RawJson(string Text);

    private sealed class RawJsonConverter : System.Text.Json.Serialization.JsonConverter<RawJson>
    {
        public override RawJson Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            using var document = JsonDocument.ParseValue(ref reader);
            return new RawJson(document.RootElement.GetRawText());
        }

        public override void Write(Utf8JsonWriter writer, RawJson value, JsonSerializerOptions options) =>
            writer.WriteRawValue(value.Text, skipInputValidation: true);
    }

    private long _autoId;

    /// <summary>PUT|POST /{index}/_doc/{id}, PUT /{index}/_create/{id} —
    /// https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-index. Answers 201 <c>created</c>
    /// or 200 <c>updated</c> with <c>_version</c>, <c>_seq_no</c>, <c>_primary_term</c>; a conflict is 409
    /// <c>version_conflict_engine_exception</c>; a field that cannot be parsed is 400 <c>document_parsing_exception</c>.</summary>
    private Reply IndexDocument(string indexName, string? id, Dictionary<string, string> query, byte[] body, bool create)
    {
        id ??= "fake-" + Interlocked.Increment(ref _autoId).ToString(CultureInfo.InvariantCulture);
        var action = new WriteAction(create ? "create" : "index", indexName, id, Version(query), query.GetValueOrDefault("version_type"), SeqNo(query), PrimaryTerm(query));
        if (action.Validate(hasSource: true) is { } invalid)
        {
            return Error(400, "action_request_validation_exception", "Validation Failed: 1: " + invalid + ";");
        }

        JsonObject? source;
        try
        {
            source = ParseBody(body) as JsonObject;
        }
        catch (JsonException e)
        {
            return Error(400, "document_parsing_exception", "[1:1] failed to parse: " + e.Message);
        }

        if (source is null)
        {
            return Error(400, "action_request_validation_exception", "Validation Failed: 1: source is missing;");
        }

        var index = WriteIndex(indexName, out var error);
        if (index is null)
        {
            return new Reply(error!["type"]!.GetValue<string>() == "index_not_found_exception" ? 404 : 400, new JsonObject { ["error"] = error, ["status"] = 400 });
        }

        var (status, item) = Execute(index, action, source, Encoding.UTF8.GetString(body));
        AfterWrite([index], query, item);
        return status >= 400 ? new Reply(status, new JsonObject { ["error"] = item["error"]!.DeepClone(), ["status"] = status }) : new Reply(status, item);
    }

    /// <summary>GET|HEAD /{index}/_doc/{id} — realtime: sees the latest write without a refresh. Found:
    /// <c>{_index,_id,_version,_seq_no,_primary_term,found:true,_source}</c>; absent (or deleted):
    /// 404 <c>{_index,_id,found:false}</c>; a missing index is 404 <c>index_not_found_exception</c>.</summary>
    private Reply GetDocument(string indexName, string id, Dictionary<string, string> query)
    {
        var indices = Resolve(indexName, out var missing);
        if (missing is not null || indices.Count != 1)
        {
            return IndexNotFound(missing ?? indexName);
        }

        var index = indices[0];
        var doc = index.Lookup(id, index.Now);
        if (doc?.Source is null)
        {
            return new Reply(404, new JsonObject { ["_index"] = index.Name, ["_id"] = id, ["found"] = false });
        }

        var result = new JsonObject
        {
            ["_index"] = index.Name,
            ["_id"] = id,
            ["_version"] = doc.Version,
            ["_seq_no"] = doc.SeqNo,
            ["_primary_term"] = FakePrimaryTerm,
            ["found"] = true,
        };
        if (query.GetValueOrDefault("_source") != "false")
        {
            result["_source"] = RawSource(doc.Source);
        }

        return new Reply(200, result);
    }

    /// <summary>GET|POST /{index}/_mget — many documents of one index by id
    /// (https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-mget): the body names them
    /// as <c>ids</c> or as <c>docs</c> of <c>{_id}</c>; the answer is 200 with <c>docs</c> in the same
    /// order, each as the get API answers it (realtime by default, so a write is seen before a refresh;
    /// a deleted document is <c>found: false</c>). A missing index fails each document, not the request:
    /// the item holds an <c>error</c> of type <c>index_not_found_exception</c>.</summary>
    private Reply MultiGet(string indexName, Dictionary<string, string> query, byte[] body)
    {
        var request = ParseBody(body) as JsonObject ?? [];
        var ids = request["ids"] is JsonArray idArray
            ? idArray.Select(n => n?.GetValue<string>()).ToList()
            : (request["docs"] as JsonArray ?? []).Select(n => n?["_id"]?.GetValue<string>()).ToList();
        if (ids.Count == 0 || ids.Any(id => id is null))
        {
            return Error(400, "action_request_validation_exception", "Validation Failed: 1: no documents to get;");
        }

        var docs = new JsonArray();
        foreach (var id in ids)
        {
            var reply = GetDocument(indexName, id!, query);
            // (each reply is a new node: added as it is, its _source stays the stored text)
            docs.Add(reply.Body?["error"] is JsonNode error
                ? new JsonObject { ["_index"] = indexName, ["_id"] = id, ["error"] = error.DeepClone() }
                : reply.Body);
        }

        return new Reply(200, new JsonObject { ["docs"] = docs });
    }

    /// <summary>DELETE /{index}/_doc/{id} — 200 <c>deleted</c>, or 404 <c>not_found</c> (the body has the
    /// same shape); with an external version the tombstone keeps that version for <c>index.gc_deletes</c>.</summary>
    private Reply DeleteDocument(string indexName, string id, Dictionary<string, string> query)
    {
        var action = new WriteAction("delete", indexName, id, Version(query), query.GetValueOrDefault("version_type"), SeqNo(query));
        if (action.Validate(hasSource: false) is { } invalid)
        {
            return Error(400, "action_request_validation_exception", "Validation Failed: 1: " + invalid + ";");
        }

        var indices = Resolve(indexName, out var missing);
        if (missing is not null || indices.Count != 1)
        {
            return IndexNotFound(missing ?? indexName);
        }

        var (status, item) = Execute(indices[0], action, null, null);
        AfterWrite(indices, query, item);
        return status == 409 ? new Reply(status, new JsonObject { ["error"] = item["error"]!.DeepClone(), ["status"] = status }) : new Reply(status, item);
    }

    /// <summary>
    /// One write against the version map, as InternalEngine plans it
    /// (https://www.elastic.co/docs/reference/elasticsearch/rest-apis/optimistic-concurrency-control and the
    /// <c>version_type</c> parameter of the index API):
    /// <list type="bullet">
    /// <item><c>internal</c> (default): the new version is the current one + 1 (1 for a new id; a tombstone
    /// still remembered counts as current).</item>
    /// <item><c>external</c>: the write succeeds only when the given version is strictly higher than the
    /// current one (live or tombstone), and the document then has exactly that version; else 409.</item>
    /// <item><c>external_gte</c>: as external, but an equal version succeeds too.</item>
    /// <item><c>create</c>: 409 when a live document exists.</item>
    /// <item>delete: a missing document answers 404 <c>not_found</c>, yet a tombstone with the new version
    /// is recorded all the same, so an older external write conflicts with it until <c>index.gc_deletes</c>.</item>
    /// <item><c>if_seq_no</c> and <c>if_primary_term</c>: the write succeeds only when the live document has
    /// that sequence number and primary term (the fake's shards never change primary, so the term is
    /// always <see cref="FakePrimaryTerm"/>).</item>
    /// </list>
    /// Every executed write (a not_found delete included) takes the next sequence number.
    /// </summary>
    private static (int Status, JsonObject Item) Execute(FakeIndex index, WriteAction action, JsonObject? source, string? rawSource)
    {
        var now = index.Now;
        var current = index.Lookup(action.Id, now);
        var live = current?.Source is not null;
        if (action.IfSeqNo is { } required && (!live || current!.SeqNo != required || action.IfPrimaryTerm is not (null or FakePrimaryTerm)))
        {
            var term = action.IfPrimaryTerm ?? FakePrimaryTerm;
            var reason = live
                ? $"[{action.Id}]: version conflict, required seqNo [{required}], primary term [{term}]. current document has seqNo [{current!.SeqNo}] and primary term [{FakePrimaryTerm}]"
                : $"[{action.Id}]: version conflict, required seqNo [{required}], primary term [{term}] but no document was found";
            return Conflict(index, action, reason);
        }

        long version;
        switch (action.VersionType)
        {
            case "external" when current is not null && action.Version <= current.Version:
                return Conflict(index, action, $"[{action.Id}]: version conflict, current version [{current.Version}] is higher or equal to the one provided [{action.Version}]");
            case "external_gte" when current is not null && action.Version < current.Version:
                return Conflict(index, action, $"[{action.Id}]: version conflict, current version [{current.Version}] is higher than the one provided [{action.Version}]");
            case "external" or "external_gte":
                version = action.Version!.Value;
                break;
            default:
                version = (current?.Version ?? 0) + 1;
                break;
        }

        if (action.Op == "create" && live)
        {
            return Conflict(index, action, $"[{action.Id}]: version conflict, document already exists (current version [{current!.Version}])");
        }

        string result;
        int status;
        if (action.Op == "delete")
        {
            result = live ? "deleted" : "not_found";
            status = live ? 200 : 404;
            index.Docs[action.Id] = new FakeDoc(action.Id, null, version, index.NextSeqNo(), now);
        }
        else
        {
            if (FakeMapping.Apply(index.Mappings, source!, action.Id) is { } parse)
            {
                return (400, new JsonObject
                {
                    ["_index"] = index.Name,
                    ["_id"] = action.Id,
                    ["status"] = 400,
                    ["error"] = ErrorCause(parse.Type, parse.Reason, index.Name),
                });
            }

            result = live ? "updated" : "created";
            status = live ? 200 : 201;
            // _source is kept byte for byte as sent, as the server stores it.
            index.Docs[action.Id] = new FakeDoc(action.Id, rawSource ?? source!.ToJsonString(), version, index.NextSeqNo(), null);
        }

        var doc = index.Docs[action.Id];
        return (status, new JsonObject
        {
            ["_index"] = index.Name,
            ["_id"] = action.Id,
            ["_version"] = version,
            ["result"] = result,
            ["_shards"] = Shards(),
            ["_seq_no"] = doc.SeqNo,
            ["_primary_term"] = FakePrimaryTerm,
            ["status"] = status,
        });
    }

    private static (int, JsonObject) Conflict(FakeIndex index, WriteAction action, string reason)
    {
        var error = ErrorCause("version_conflict_engine_exception", reason, index.Name);
        error["shard"] = "0";
        return (409, new JsonObject { ["_index"] = index.Name, ["_id"] = action.Id, ["status"] = 409, ["error"] = error });
    }

    /// <summary><c>?refresh=true</c> (or empty) refreshes the touched indices before answering and marks
    /// <c>forced_refresh</c>; <c>?refresh=wait_for</c> waits for the next refresh, which the fake, having no
    /// periodic refresh, performs at once.</summary>
    private static void AfterWrite(IEnumerable<FakeIndex> indices, Dictionary<string, string> query, JsonObject? item)
    {
        if (!query.TryGetValue("refresh", out var refresh) || refresh == "false")
        {
            return;
        }

        foreach (var index in indices)
        {
            index.Refresh();
        }

        if (item is not null && refresh is "true" or "")
        {
            item["forced_refresh"] = true;
        }
    }

    private static long? Version(Dictionary<string, string> query) =>
        query.TryGetValue("version", out var text) && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : null;

    /// <summary>The primary term of every shard of the fake: one primary, never reassigned (a real
    /// cluster raises it at each primary failover, https://www.elastic.co/docs/reference/elasticsearch/rest-apis/optimistic-concurrency-control).</summary>
    internal const long FakePrimaryTerm = 1;

    private static long? PrimaryTerm(Dictionary<string, string> query) =>
        query.TryGetValue("if_primary_term", out var text) && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : null;

    private static long? SeqNo(Dictionary<string, string> query) =>
        query.TryGetValue("if_seq_no", out var text) && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : null;

    /// <summary>One write: op (index, create, delete), index, id and versioning parameters.</summary>
    internal sealed record WriteAction(string Op, string Index, string Id, long? Version, string? RequestedVersionType, long? IfSeqNo, long? IfPrimaryTerm = null)
    {
        /// <summary><c>external_gt</c> is accepted as another name of <c>external</c>, as the server does.</summary>
        public string VersionType => RequestedVersionType switch
        {
            null => "internal",
            "external_gt" => "external",
            var other => other,
        };

        /// <summary>The request validation that fails a whole request (a whole _bulk included) with 400
        /// <c>action_request_validation_exception</c>, or null.</summary>
        public string? Validate(bool hasSource)
        {
            if (Encoding.UTF8.GetByteCount(Id) > 512)
            {
                return $"id [{Id}] is too long, must be no longer than 512 bytes but was: {Encoding.UTF8.GetByteCount(Id)}";
            }

            if (Id.Length == 0)
            {
                return "if _id is specified it must not be empty";
            }

            if (VersionType is not ("internal" or "external" or "external_gte"))
            {
                return $"No version type match [{VersionType}]";
            }

            if (VersionType == "internal" && Version is not null)
            {
                return "internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead";
            }

            if (VersionType != "internal" && (Version is null || Version < 0))
            {
                return $"illegal version value [{Version ?? -3}] for version type [{VersionType.ToUpperInvariant()}]";
            }

            if (Op == "create" && VersionType != "internal")
            {
                return "create operations only support internal versioning. use index instead";
            }

            return hasSource || Op == "delete" ? null : "source is missing";
        }
    }
}
