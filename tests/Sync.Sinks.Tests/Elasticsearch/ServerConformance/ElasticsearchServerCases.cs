using System.Net.Http.Headers;
using System.Text.Json.Nodes;

namespace Sync.Sinks.Tests.Elasticsearch.ServerConformance;

/// <summary>One list of cases for every API the sink uses, written from Elasticsearch's own REST YAML
/// tests (elastic/elasticsearch rest-api-spec/src/yamlRestTest/resources/rest-api-spec/test/…, cited per
/// case as file and lines) and reference docs. The same cases run against the fake
/// (<see cref="FakeElasticsearchServerConformanceTests"/>) and, where Docker runs, against a real server
/// (<see cref="RealElasticsearchServerConformanceTests"/>), so that both are held to one list. Every case
/// owns indices with a fresh prefix, so one server serves them all. Requests carry the media type the
/// 9.x client sends (compatible-with=9).</summary>
public static class ElasticsearchServerCases
{
    private const string Spec = "rest-api-spec/src/yamlRestTest/resources/rest-api-spec/test/";

    private static readonly Dictionary<string, Func<Server, Task>> Cases = new(StringComparer.Ordinal)
    {
        // https://www.elastic.co/docs/reference/elasticsearch/rest-apis/api-conventions (product header, 7.14+).
        ["every answer carries X-Elastic-Product, errors included"] = async s =>
        {
            var ok = await s.SendAsync(HttpMethod.Get, "/");
            var missing = await s.SendAsync(HttpMethod.Get, $"/{s.Prefix}-missing/_doc/1");
            Assert.Equal(200, ok.Status);
            Assert.Equal("Elasticsearch", ok.Product);
            Assert.Equal(404, missing.Status);
            Assert.Equal("Elasticsearch", missing.Product);
        },

        // indices.create/10_basic.yml ("Create index with mappings"); indices.get_mapping/10_basic.yml.
        ["an index is created with its mappings, and once only"] = async s =>
        {
            var index = s.Prefix + "-created";
            var created = await s.SendAsync(HttpMethod.Put, "/" + index, """{"mappings":{"properties":{"id":{"type":"long"},"name":{"type":"keyword"}}}}""");
            var again = await s.SendAsync(HttpMethod.Put, "/" + index);
            var mapping = await s.SendAsync(HttpMethod.Get, $"/{index}/_mapping");
            Assert.Equal(200, created.Status);
            Assert.True(created.Body!["acknowledged"]!.GetValue<bool>());
            Assert.Equal(400, again.Status);
            Assert.Equal("resource_already_exists_exception", again.Body!["error"]!["type"]!.GetValue<string>());
            Assert.Equal("long", mapping.Body![index]!["mappings"]!["properties"]!["id"]!["type"]!.GetValue<string>());
        },

        // Error bodies: {"error":{"root_cause":[…],"type","reason",…},"status"} — indices.delete/10_basic.yml
        // ("Delete nonexistent concrete index", catch: missing).
        ["an error has the server's shape: root_cause, type, reason and status"] = async s =>
        {
            var missing = await s.SendAsync(HttpMethod.Delete, $"/{s.Prefix}-nothing");
            Assert.Equal(404, missing.Status);
            Assert.Equal(404, missing.Body!["status"]!.GetValue<int>());
            Assert.Equal("index_not_found_exception", missing.Body["error"]!["type"]!.GetValue<string>());
            Assert.Equal("index_not_found_exception", missing.Body["error"]!["root_cause"]![0]!["type"]!.GetValue<string>());
            Assert.Equal($"{s.Prefix}-nothing", missing.Body["error"]!["index"]!.GetValue<string>());
        },

        // _bulk with version_type=external: a version must be higher than the stored one, a delete keeps its
        // version as a tombstone (index/35_external_version.yml; bulk/10_basic.yml; the _bulk reference:
        // each item succeeds or fails on its own, errors: true).
        ["bulk with external versions: a lower or equal version conflicts, a delete's version stays"] = async s =>
        {
            var index = s.Prefix + "-versions";
            var first = await s.BulkAsync($$$"""
                {"index":{"_index":"{{{index}}}","_id":"1","version":5,"version_type":"external"}}
                {"n":1}
                {"index":{"_index":"{{{index}}}","_id":"2","version":5,"version_type":"external"}}
                {"n":2}
                """);
            var second = await s.BulkAsync($$$"""
                {"index":{"_index":"{{{index}}}","_id":"1","version":5,"version_type":"external"}}
                {"n":10}
                {"index":{"_index":"{{{index}}}","_id":"2","version":6,"version_type":"external"}}
                {"n":20}
                {"delete":{"_index":"{{{index}}}","_id":"1","version":9,"version_type":"external"}}
                {"index":{"_index":"{{{index}}}","_id":"1","version":8,"version_type":"external"}}
                {"n":100}
                """);
            Assert.False(first.Body!["errors"]!.GetValue<bool>());
            Assert.Equal(201, first.Body["items"]![0]!["index"]!["status"]!.GetValue<int>());
            Assert.True(second.Body!["errors"]!.GetValue<bool>());
            var items = second.Body["items"]!.AsArray();
            Assert.Equal(409, items[0]!["index"]!["status"]!.GetValue<int>());
            Assert.Equal("version_conflict_engine_exception", items[0]!["index"]!["error"]!["type"]!.GetValue<string>());
            Assert.Equal(200, items[1]!["index"]!["status"]!.GetValue<int>());
            Assert.Equal("deleted", items[2]!["delete"]!["result"]!.GetValue<string>());
            Assert.Equal(409, items[3]!["index"]!["status"]!.GetValue<int>());
            var gone = await s.SendAsync(HttpMethod.Get, $"/{index}/_doc/1");
            Assert.Equal(404, gone.Status);
            Assert.False(gone.Body!["found"]!.GetValue<bool>());
        },

        // get/10_basic.yml; mget/10_basic.yml (found true/false per doc, realtime).
        ["_doc and _mget read by id, realtime, with found per document"] = async s =>
        {
            var index = s.Prefix + "-docs";
            await s.SendAsync(HttpMethod.Put, $"/{index}/_doc/a", """{"v":1}""");
            var got = await s.SendAsync(HttpMethod.Get, $"/{index}/_doc/a");
            var many = await s.SendAsync(HttpMethod.Post, $"/{index}/_mget", """{"ids":["a","b"]}""");
            Assert.True(got.Body!["found"]!.GetValue<bool>());
            Assert.Equal(1, got.Body["_source"]!["v"]!.GetValue<int>());
            Assert.True(many.Body!["docs"]![0]!["found"]!.GetValue<bool>());
            Assert.False(many.Body["docs"]![1]!["found"]!.GetValue<bool>());
        },

        // search/10_source_filtering.yml; count/10_basic.yml; search.query term/terms/ids/bool (Query DSL reference);
        // indices.refresh/10_basic.yml: search sees documents after a refresh.
        ["_search and _count with term, terms, ids and bool after _refresh"] = async s =>
        {
            var index = s.Prefix + "-search";
            await s.SendAsync(HttpMethod.Put, "/" + index, """{"mappings":{"properties":{"customer":{"type":"long"},"tag":{"type":"keyword"}}}}""");
            await s.BulkAsync($$$"""
                {"index":{"_index":"{{{index}}}","_id":"1"}}
                {"customer":7,"tag":"a"}
                {"index":{"_index":"{{{index}}}","_id":"2"}}
                {"customer":8,"tag":"b"}
                {"index":{"_index":"{{{index}}}","_id":"3"}}
                {"customer":7,"tag":"b"}
                """);
            Assert.Equal(200, (await s.SendAsync(HttpMethod.Post, $"/{index}/_refresh")).Status);
            Assert.Equal(2, await s.CountAsync(index, """{"query":{"term":{"customer":7}}}"""));
            Assert.Equal(2, await s.CountAsync(index, """{"query":{"term":{"customer":"7"}}}"""));
            Assert.Equal(3, await s.CountAsync(index, """{"query":{"terms":{"customer":[7,"8"]}}}"""));
            Assert.Equal(2, await s.CountAsync(index, """{"query":{"ids":{"values":["1","2","9"]}}}"""));
            Assert.Equal(1, await s.CountAsync(index, """{"query":{"bool":{"filter":[{"term":{"customer":7}},{"term":{"tag":"b"}}]}}}"""));
            var hits = await s.SendAsync(HttpMethod.Post, $"/{index}/_search", """{"query":{"term":{"tag":"b"}},"_source":["customer"]}""");
            Assert.Equal(2, hits.Body!["hits"]!["hits"]!.AsArray().Count);
            Assert.Null(hits.Body["hits"]!["hits"]![0]!["_source"]!["tag"]);
        },

        // A term the field's type cannot parse: 400 (Numbers.toLong "For input string"), elastic/elasticsearch#16638.
        ["a term with text on a long field is refused with 400"] = async s =>
        {
            var index = s.Prefix + "-typed";
            await s.SendAsync(HttpMethod.Put, "/" + index, """{"mappings":{"properties":{"id":{"type":"long"}}}}""");
            var refused = await s.SendAsync(HttpMethod.Post, $"/{index}/_count", """{"query":{"terms":{"id":[1,"ada@example.com"]}}}""");
            Assert.Equal(400, refused.Status);
        },

        // search/30_limits.yml lines 20-26 and 28-34.
        ["from + size above index.max_result_window, or a negative from, is refused with 400"] = async s =>
        {
            var index = s.Prefix + "-window";
            await s.SendAsync(HttpMethod.Put, "/" + index);
            var tooFar = await s.SendAsync(HttpMethod.Post, $"/{index}/_search", """{"from":10000,"size":10}""");
            var negative = await s.SendAsync(HttpMethod.Post, $"/{index}/_search", """{"from":-2}""");
            var edge = await s.SendAsync(HttpMethod.Post, $"/{index}/_search", """{"from":0,"size":10000}""");
            Assert.Equal(400, tooFar.Status);
            Assert.StartsWith("Result window is too large, from + size must be less than or equal to: [10000] but was [10010]", tooFar.Body!["error"]!["root_cause"]![0]!["reason"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.Equal(400, negative.Status);
            Assert.Equal(200, edge.Status);
        },

        // delete_by_query/10_basic.yml ("Basic response": deleted count).
        ["_delete_by_query deletes what matches and counts it"] = async s =>
        {
            var index = s.Prefix + "-dbq";
            await s.BulkAsync($$$"""
                {"index":{"_index":"{{{index}}}","_id":"1"}}
                {"k":"x"}
                {"index":{"_index":"{{{index}}}","_id":"2"}}
                {"k":"y"}
                """);
            await s.SendAsync(HttpMethod.Post, $"/{index}/_refresh");
            var deleted = await s.SendAsync(HttpMethod.Post, $"/{index}/_delete_by_query?refresh=true", """{"query":{"term":{"k.keyword":"x"}}}""");
            Assert.Equal(1, deleted.Body!["deleted"]!.GetValue<int>());
            Assert.Equal(1, await s.CountAsync(index, """{"query":{"match_all":{}}}"""));
        },

        // indices.update_aliases/40_must_exist.yml lines 44-59, 112-135 and 137-152.
        ["_aliases: errors and action_results on a partial success, nothing applied with must_exist"] = async s =>
        {
            var index = s.Prefix + "-aliased";
            await s.SendAsync(HttpMethod.Put, "/" + index);
            var clean = await s.SendAsync(HttpMethod.Post, "/_aliases", $$$"""{"actions":[{"add":{"index":"{{{index}}}","alias":"{{{s.Prefix}}}-a1"}}]}""");
            var partial = await s.SendAsync(HttpMethod.Post, "/_aliases", $$$"""{"actions":[{"add":{"index":"{{{index}}}","alias":"{{{s.Prefix}}}-a2"}},{"remove":{"index":"{{{index}}}","alias":"{{{s.Prefix}}}-none"}}]}""");
            var strict = await s.SendAsync(HttpMethod.Post, "/_aliases", $$$"""{"actions":[{"remove":{"index":"{{{index}}}","alias":"{{{s.Prefix}}}-none","must_exist":true}},{"add":{"index":"{{{index}}}","alias":"{{{s.Prefix}}}-a3"}}]}""");
            Assert.False(clean.Body!["errors"]!.GetValue<bool>());
            Assert.Null(clean.Body["action_results"]);
            Assert.Equal(200, partial.Status);
            Assert.True(partial.Body!["errors"]!.GetValue<bool>());
            Assert.Equal(200, partial.Body["action_results"]![0]!["status"]!.GetValue<int>());
            Assert.Equal(404, partial.Body["action_results"]![1]!["status"]!.GetValue<int>());
            Assert.Equal("aliases_not_found_exception", partial.Body["action_results"]![1]!["error"]!["type"]!.GetValue<string>());
            Assert.Equal("remove", partial.Body["action_results"]![1]!["action"]!["type"]!.GetValue<string>());
            Assert.Equal(404, strict.Status);
            Assert.Equal(200, (await s.SendAsync(HttpMethod.Head, $"/_alias/{s.Prefix}-a2")).Status);
            Assert.Equal(404, (await s.SendAsync(HttpMethod.Head, $"/_alias/{s.Prefix}-a3")).Status);
        },

        // indices.delete/10_basic.yml lines 12-21 ("Delete index against alias").
        ["DELETE of an alias is 400 and deletes nothing"] = async s =>
        {
            var index = s.Prefix + "-held";
            await s.SendAsync(HttpMethod.Put, "/" + index, "{\"aliases\":{\"" + s.Prefix + "-alias\":{}}}");
            var refused = await s.SendAsync(HttpMethod.Delete, $"/{s.Prefix}-alias");
            Assert.Equal(400, refused.Status);
            Assert.Equal(200, (await s.SendAsync(HttpMethod.Head, "/" + index)).Status);
        },

        // https://www.elastic.co/docs/manage-data/data-store/mapping/dynamic-field-mapping#date-detection
        ["dynamic date detection maps 2015/09/02 as a date with the slash formats"] = async s =>
        {
            var index = s.Prefix + "-dates";
            var indexed = await s.SendAsync(HttpMethod.Put, $"/{index}/_doc/1", """{"create_date":"2015/09/02","iso":"2015-09-02T10:00:00Z"}""");
            var again = await s.SendAsync(HttpMethod.Put, $"/{index}/_doc/2", """{"create_date":"2015/09/03 10:11:12"}""");
            var mapping = await s.SendAsync(HttpMethod.Get, $"/{index}/_mapping");
            var fields = mapping.Body![index]!["mappings"]!["properties"]!;
            Assert.Equal(201, indexed.Status);
            Assert.Equal(201, again.Status);
            Assert.Equal("date", fields["create_date"]!["type"]!.GetValue<string>());
            Assert.Equal("yyyy/MM/dd HH:mm:ss||yyyy/MM/dd||epoch_millis", fields["create_date"]!["format"]!.GetValue<string>());
            Assert.Equal("date", fields["iso"]!["type"]!.GetValue<string>());
        },

        // indices.put_mapping/10_basic.yml; https://www.elastic.co/docs/reference/elasticsearch/mapping-reference/subobjects
        ["a field name with a dot is an object path, found by a term on that path"] = async s =>
        {
            var index = s.Prefix + "-dots";
            await s.SendAsync(HttpMethod.Put, $"/{index}/_doc/1?refresh=true", """{"a.b":7,"c":1}""");
            var mapping = await s.SendAsync(HttpMethod.Get, $"/{index}/_mapping");
            var source = await s.SendAsync(HttpMethod.Post, $"/{index}/_search", """{"query":{"term":{"a.b":7}},"_source":["a.b"]}""");
            Assert.Equal("long", mapping.Body![index]!["mappings"]!["properties"]!["a"]!["properties"]!["b"]!["type"]!.GetValue<string>());
            Assert.Single(source.Body!["hits"]!["hits"]!.AsArray());
            Assert.Equal(7, source.Body["hits"]!["hits"]![0]!["_source"]!["a.b"]!.GetValue<int>());
        },

        // indices.put_mapping/10_basic.yml lines 2-51 ("Test Create and update mapping": subfield.text3 is
        // mapped as subfield.properties.text3).
        ["a dotted name in explicit mappings is an object path too, and a later put_mapping adds to it"] = async s =>
        {
            var index = s.Prefix + "-dotmap";
            var created = await s.SendAsync(HttpMethod.Put, "/" + index, """{"mappings":{"properties":{"address.zip":{"type":"long"}}}}""");
            var added = await s.SendAsync(HttpMethod.Put, $"/{index}/_mapping", """{"properties":{"address.city":{"type":"keyword"}}}""");
            await s.SendAsync(HttpMethod.Put, $"/{index}/_doc/1?refresh=true", """{"address.zip":5,"address":{"city":"Oslo"}}""");
            var mapping = await s.SendAsync(HttpMethod.Get, $"/{index}/_mapping");
            var address = mapping.Body![index]!["mappings"]!["properties"]!["address"]!["properties"]!;
            Assert.Equal(200, created.Status);
            Assert.Equal(200, added.Status);
            Assert.Equal("long", address["zip"]!["type"]!.GetValue<string>());
            Assert.Equal("keyword", address["city"]!["type"]!.GetValue<string>());
            Assert.Equal(1, await s.CountAsync(index, """{"query":{"bool":{"filter":[{"term":{"address.zip":5}},{"term":{"address.city":"Oslo"}}]}}}"""));
            Assert.Equal(400, (await s.SendAsync(HttpMethod.Post, $"/{index}/_count", """{"query":{"term":{"address.zip":"five"}}}""")).Status);
        },

        // https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-open-point-in-time and
        // operation-close-point-in-time; paginate-search-results#search-after: a point in time keeps the
        // view it opened on, pages continue after the last hit's sort values, and closing frees it.
        ["a point in time keeps its view, search_after on _shard_doc pages it, and closing frees it"] = async s =>
        {
            var index = s.Prefix + "-pit";
            await s.BulkAsync(string.Concat(Enumerable.Range(1, 3).Select(id => $$$"""{"index":{"_index":"{{{index}}}","_id":"{{{id}}}"}}""" + "\n{\"id\":" + id.ToString(CultureInfo.InvariantCulture) + "}\n")));
            var open = await s.SendAsync(HttpMethod.Post, $"/{index}/_pit?keep_alive=1m");
            var pit = open.Body!["id"]!.GetValue<string>();
            await s.SendAsync(HttpMethod.Put, $"/{index}/_doc/4?refresh=true", """{"id":4}""");
            var ids = new List<string>();
            var page = $$$"""{"size":2,"pit":{"id":"{{{pit}}}","keep_alive":"1m"},"sort":[{"_shard_doc":"asc"}],"_source":["id"]}""";
            while (true)
            {
                var answer = await s.SendAsync(HttpMethod.Post, "/_search", page);
                Assert.Equal(200, answer.Status);
                pit = answer.Body!["pit_id"]!.GetValue<string>();
                var hits = answer.Body["hits"]!["hits"]!.AsArray();
                if (hits.Count == 0)
                {
                    break;
                }

                ids.AddRange(hits.Select(h => h!["_id"]!.GetValue<string>()));
                var after = hits[^1]!["sort"]![0]!.GetValue<long>();
                page = $$$"""{"size":2,"pit":{"id":"{{{pit}}}","keep_alive":"1m"},"sort":[{"_shard_doc":"asc"}],"search_after":[{{{after}}}],"_source":["id"]}""";
            }

            var named = await s.SendAsync(HttpMethod.Post, $"/{index}/_search", $$$"""{"pit":{"id":"{{{pit}}}"}}""");
            var closed = await s.SendAsync(HttpMethod.Delete, "/_pit", $$$"""{"id":"{{{pit}}}"}""");
            Assert.Equal(200, open.Status);
            Assert.Equal(["1", "2", "3"], ids.Order(StringComparer.Ordinal));
            Assert.Equal(400, named.Status);
            Assert.Equal(200, closed.Status);
            Assert.True(closed.Body!["succeeded"]!.GetValue<bool>());
            Assert.Equal(1, closed.Body["num_freed"]!.GetValue<int>());
            Assert.Equal(404, (await s.SendAsync(HttpMethod.Post, "/_search", $$$"""{"pit":{"id":"{{{pit}}}","keep_alive":"1m"}}""")).Status);
        },
    };

    public static TheoryData<string> Names => [.. Cases.Keys];

    public static Task RunAsync(string name, Uri server) => Cases[name](new Server(server, "conf-" + Guid.NewGuid().ToString("N")[..10]));

    /// <summary>A server and the prefix of the indices one case owns.</summary>
    public sealed class Server(Uri url, string prefix)
    {
        private const string MediaType = "application/vnd.elasticsearch+json;compatible-with=9";

        public string Prefix { get; } = prefix;

        public async Task<(int Status, JsonNode? Body, string? Product)> SendAsync(HttpMethod method, string path, string? json = null, string contentType = MediaType)
        {
            using var http = new HttpClient { BaseAddress = url };
            using var request = new HttpRequestMessage(method, path.TrimStart('/'));
            request.Headers.Accept.Add(MediaTypeWithQualityHeaderValue.Parse(MediaType));
            if (json is not null)
            {
                request.Content = new StringContent(json, Encoding.UTF8);
                request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
            }

            using var response = await http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            return ((int)response.StatusCode, string.IsNullOrEmpty(text) ? null : JsonNode.Parse(text),
                response.Headers.TryGetValues("X-Elastic-Product", out var values) ? values.FirstOrDefault() : null);
        }

        public async Task<(int Status, JsonNode? Body, string? Product)> BulkAsync(string ndjson) =>
            await SendAsync(HttpMethod.Post, "/_bulk?refresh=true", ndjson.ReplaceLineEndings("\n") + "\n", "application/vnd.elasticsearch+x-ndjson;compatible-with=9");

        public async Task<long> CountAsync(string index, string query) =>
            (await SendAsync(HttpMethod.Post, $"/{index}/_count", query)).Body!["count"]!.GetValue<long>();
    }
}
