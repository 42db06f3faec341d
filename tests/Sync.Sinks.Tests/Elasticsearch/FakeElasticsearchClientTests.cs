using System.Net;
using System.Text.Json.Serialization;
using Elastic.Clients.Elasticsearch;
using Elastic.Clients.Elasticsearch.Core.Bulk;
using Elastic.Clients.Elasticsearch.IndexManagement;
using Elastic.Clients.Elasticsearch.QueryDsl;
using Elastic.Transport;

namespace Sync.Sinks.Tests.Elasticsearch;

/// <summary>The fake's conformance check: its answers parse with the official client
/// (Elastic.Clients.Elasticsearch 9.5.3) into the values the real server would give.</summary>
public sealed class FakeElasticsearchClientTests : IAsyncLifetime
{
    private FakeElasticsearch _fake = null!;
    private ElasticsearchClient _client = null!;

    public Task InitializeAsync()
    {
        _fake = FakeElasticsearch.Start();
        _client = new ElasticsearchClient(new ElasticsearchClientSettings(_fake.Url));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _fake.DisposeAsync();

    [Fact]
    public async Task The_client_accepts_the_product_header_and_reads_the_node_info()
    {
        var info = await _client.InfoAsync();

        Assert.True(info.IsValidResponse, info.DebugInformation);
        Assert.Equal("9.1.5", info.Version.Number);
        Assert.Equal("You Know, for Search", info.Tagline);
        Assert.True((await _client.PingAsync()).IsValidResponse);
    }

    /// <summary>Optimistic concurrency as the server keeps it
    /// (https://www.elastic.co/docs/reference/elasticsearch/rest-apis/optimistic-concurrency-control):
    /// a write with <c>if_seq_no</c> and <c>if_primary_term</c> succeeds only while the document has both,
    /// else 409 <c>version_conflict_engine_exception</c>.</summary>
    [Fact]
    public async Task A_write_conditioned_on_a_sequence_number_and_primary_term_is_refused_when_either_differs()
    {
        await _client.IndexAsync(new Person("ada", 36), i => i.Index("people").Id("1"));
        var got = await _client.GetAsync<Person>("people", "1");

        var otherTerm = await _client.IndexAsync(new Person("ada", 37), i => i.Index("people").Id("1").IfSeqNo(got.SeqNo).IfPrimaryTerm(got.PrimaryTerm!.Value + 1));
        Assert.Equal(409, otherTerm.ApiCallDetails.HttpStatusCode);

        var written = await _client.IndexAsync(new Person("ada", 38), i => i.Index("people").Id("1").IfSeqNo(got.SeqNo).IfPrimaryTerm(got.PrimaryTerm));
        Assert.True(written.IsValidResponse, written.DebugInformation);

        var stale = await _client.IndexAsync(new Person("ada", 39), i => i.Index("people").Id("1").IfSeqNo(got.SeqNo).IfPrimaryTerm(got.PrimaryTerm));
        Assert.Equal(409, stale.ApiCallDetails.HttpStatusCode);
        Assert.Equal(38, (await _client.GetAsync<Person>("people", "1")).Source!.Age);
    }

    [Fact]
    public async Task A_document_is_indexed_read_back_and_deleted()
    {
        var indexed = await _client.IndexAsync(new Person("ada", 36), i => i.Index("people").Id("1"));
        Assert.True(indexed.IsValidResponse, indexed.DebugInformation);
        Assert.Equal(Result.Created, indexed.Result);
        Assert.Equal(1, indexed.Version);

        var updated = await _client.IndexAsync(new Person("ada lovelace", 36), i => i.Index("people").Id("1"));
        Assert.Equal(Result.Updated, updated.Result);
        Assert.Equal(2, updated.Version);

        var got = await _client.GetAsync<Person>("people", "1");
        Assert.True(got.Found);
        Assert.Equal(2, got.Version);
        Assert.Equal("ada lovelace", got.Source!.Name);

        var deleted = await _client.DeleteAsync("people", "1");
        Assert.Equal(Result.Deleted, deleted.Result);
        Assert.False((await _client.GetAsync<Person>("people", "1")).Found);
        var again = await _client.DeleteAsync("people", "1");
        Assert.Equal(Result.NotFound, again.Result);
    }

    [Fact]
    public async Task A_multi_get_reads_unrefreshed_writes_answers_deleted_ids_not_found_and_fails_a_missing_index_per_document()
    {
        await _client.IndexAsync(new Person("ada", 36), i => i.Index("people").Id("1").Refresh(Refresh.False));
        await _client.IndexAsync(new Person("bob", 40), i => i.Index("people").Id("2"));
        await _client.DeleteAsync("people", "2");

        var got = await _client.MultiGetAsync<Person>(new MultiGetRequest("people") { Ids = new Ids(["1", "2", "3"]) });
        var missing = await _client.MultiGetAsync<Person>(new MultiGetRequest("nobody") { Ids = new Ids(["1"]) });

        Assert.True(got.IsValidResponse, got.DebugInformation);
        Assert.Equal([true, false, false], got.Docs!.Select(d => d!.Match(r => r!.Found, _ => true)));
        Assert.Equal("ada", got.Docs!.First()!.Match<string?>(r => r!.Source?.Name, _ => null));
        Assert.True(missing.IsValidResponse, missing.DebugInformation);
        Assert.Equal(["index_not_found_exception"], missing.Docs!.Select(d => d!.Match<string?>(_ => null, e => e!.Error?.Type)));
    }

    [Fact]
    public async Task A_bulk_answers_each_item_with_external_version_semantics()
    {
        var first = await _client.BulkAsync(new BulkRequest("docs")
        {
            Operations = new BulkOperationsCollection
            {
                new BulkIndexOperation<Person>(new Person("a", 1)) { Id = "1", Version = 10, VersionType = VersionType.External },
                new BulkIndexOperation<Person>(new Person("b", 2)) { Id = "2", Version = 10, VersionType = VersionType.External },
                new BulkDeleteOperation("3") { Version = 7, VersionType = VersionType.External },
            },
        });
        Assert.False(first.Errors);
        Assert.Equal([201, 201, 404], first.Items.Select(i => i.Status));
        Assert.Equal("not_found", first.Items.Last().Result);

        var second = await _client.BulkAsync(new BulkRequest("docs")
        {
            Operations = new BulkOperationsCollection
            {
                new BulkIndexOperation<Person>(new Person("a-old", 1)) { Id = "1", Version = 9, VersionType = VersionType.External },
                new BulkIndexOperation<Person>(new Person("b-same", 2)) { Id = "2", Version = 10, VersionType = VersionType.External },
                new BulkIndexOperation<Person>(new Person("late", 3)) { Id = "3", Version = 5, VersionType = VersionType.External },
                new BulkDeleteOperation("1") { Version = 11, VersionType = VersionType.External },
            },
        });

        Assert.True(second.Errors);
        Assert.Equal([409, 409, 409, 200], second.Items.Select(i => i.Status));
        var conflict = second.Items.First().Error!;
        Assert.Equal("version_conflict_engine_exception", conflict.Type);
        Assert.Contains("current version [10] is higher or equal to the one provided [9]", conflict.Reason, StringComparison.Ordinal);
        Assert.Equal(3, second.ItemsWithErrors.Count());

        // The delete's tombstone keeps version 11; the missing id 3 keeps the version of its delete (7).
        Assert.Equal(11, _fake.VersionOf("docs", "1"));
        Assert.Equal(7, _fake.VersionOf("docs", "3"));
    }

    [Fact]
    public async Task A_tombstone_is_forgotten_after_gc_deletes()
    {
        var clock = new ManualClock(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        await using var fake = FakeElasticsearch.Start(new FakeElasticsearchOptions { Time = clock });
        var client = new ElasticsearchClient(new ElasticsearchClientSettings(fake.Url));
        await client.Indices.CreateAsync(new CreateIndexRequest("gc") { Settings = new IndexSettings { GcDeletes = "30s" } });
        await client.DeleteAsync(new DeleteRequest("gc", "1") { Version = 20, VersionType = VersionType.External });

        var within = await client.IndexAsync(new IndexRequest<Person>(new Person("late", 1), "gc", "1") { Version = 15, VersionType = VersionType.External });
        clock.Advance(TimeSpan.FromSeconds(31));
        var after = await client.IndexAsync(new IndexRequest<Person>(new Person("late", 1), "gc", "1") { Version = 15, VersionType = VersionType.External });

        Assert.Equal(409, within.ApiCallDetails.HttpStatusCode);
        Assert.Equal("version_conflict_engine_exception", within.ElasticsearchServerError!.Error!.Type);
        Assert.Equal(Result.Created, after.Result);
    }

    [Fact]
    public async Task An_index_is_created_with_mappings_settings_and_an_alias()
    {
        var created = await _client.Indices.CreateAsync(new CreateIndexRequest("typed")
        {
            Settings = new IndexSettings { GcDeletes = "24h" },
            Mappings = new Elastic.Clients.Elasticsearch.Mapping.TypeMapping
            {
                DateDetection = false,
                Properties = new Elastic.Clients.Elasticsearch.Mapping.Properties
                {
                    { "name", new Elastic.Clients.Elasticsearch.Mapping.KeywordProperty() },
                    { "n", new Elastic.Clients.Elasticsearch.Mapping.LongNumberProperty() },
                },
            },
            Aliases = new Dictionary<Name, Alias> { { "typed-alias", new Alias() } },
        });
        Assert.True(created.IsValidResponse, created.DebugInformation);
        Assert.True(created.Acknowledged);
        Assert.Equal("typed", created.Index);

        var again = await _client.Indices.CreateAsync("typed");
        Assert.Equal("resource_already_exists_exception", again.ElasticsearchServerError!.Error!.Type);
        Assert.Equal(400, again.ElasticsearchServerError!.Status);

        var mapping = await _client.Indices.GetMappingAsync(new GetMappingRequest("typed-alias"));
        Assert.True(mapping.IsValidResponse, mapping.DebugInformation);
        var properties = mapping.Mappings["typed"].Mappings.Properties!;
        Assert.IsType<Elastic.Clients.Elasticsearch.Mapping.KeywordProperty>(properties["name"]);
        Assert.IsType<Elastic.Clients.Elasticsearch.Mapping.LongNumberProperty>(properties["n"]);
        Assert.True((await _client.Indices.ExistsAsync("typed-alias")).Exists);
        Assert.False((await _client.Indices.ExistsAsync("absent")).Exists);
        Assert.Equal("24h", _fake.Settings("typed")!["index.gc_deletes"]);

        var bad = await _client.IndexAsync(new { name = "x", n = "not a number" }, i => i.Index("typed-alias").Id("1"));
        Assert.Equal(400, bad.ApiCallDetails.HttpStatusCode);
        Assert.Equal("document_parsing_exception", bad.ElasticsearchServerError!.Error!.Type);
    }

    [Fact]
    public async Task Search_count_and_delete_by_query_see_only_refreshed_documents()
    {
        await _client.IndexAsync(new Person("ada", 1), i => i.Index("s").Id("1"));
        await _client.IndexAsync(new Person("bob", 2), i => i.Index("s").Id("2"));
        await _client.IndexAsync(new Person("ada", 3), i => i.Index("s").Id("3"));

        Assert.Equal(0, (await _client.CountAsync(c => c.Indices("s"))).Count);
        var refreshed = await _client.Indices.RefreshAsync("s");
        Assert.True(refreshed.IsValidResponse, refreshed.DebugInformation);

        var all = await _client.SearchAsync<Person>(new SearchRequest("s") { Query = new MatchAllQuery(), Version = true });
        Assert.True(all.IsValidResponse, all.DebugInformation);
        Assert.Equal(3, all.Total);
        Assert.All(all.Hits, h => Assert.Equal(1, h.Version));

        var term = await _client.SearchAsync<Person>(new SearchRequest("s") { Query = new TermQuery("name.keyword", "ada") });
        Assert.Equal(["1", "3"], term.Hits.Select(h => h.Id));
        var ids = await _client.SearchAsync<Person>(new SearchRequest("s") { Query = new IdsQuery { Values = new Ids(["2", "9"]) } });
        Assert.Equal("bob", Assert.Single(ids.Documents).Name);
        Assert.Equal(2, (await _client.CountAsync(new CountRequest("s") { Query = new BoolQuery { Should = [new TermQuery("age", 1), new TermQuery("age", 3)] } })).Count);

        var removed = await _client.DeleteByQueryAsync(new DeleteByQueryRequest("s") { Query = new TermQuery("name.keyword", "ada"), Refresh = true });
        Assert.True(removed.IsValidResponse, removed.DebugInformation);
        Assert.Equal(2, removed.Deleted);
        Assert.Equal(1, (await _client.CountAsync(c => c.Indices("s"))).Count);

        // Delete-by-query deletes with internal versioning: the tombstone is the document's version + 1.
        Assert.Equal(2, _fake.VersionOf("s", "1"));
    }

    [Fact]
    public async Task Errors_have_the_server_shape()
    {
        var missing = await _client.SearchAsync<Person>(new SearchRequest("nope"));

        Assert.False(missing.IsValidResponse);
        Assert.Equal(404, missing.ApiCallDetails.HttpStatusCode);
        var error = missing.ElasticsearchServerError!;
        Assert.Equal(404, error.Status);
        Assert.Equal("index_not_found_exception", error.Error!.Type);
        Assert.Equal("no such index [nope]", error.Error.Reason);
        Assert.Equal("index_not_found_exception", Assert.Single(error.Error.RootCause!).Type);

        var got = await _client.GetAsync<Person>("nope", "1");
        Assert.False(got.Found);
    }

    [Fact]
    public async Task A_request_storm_and_bulk_item_faults_fire_and_count()
    {
        _fake.Faults.FailNextRequests(2, 429, "/_bulk");
        var rejected = await _client.BulkAsync(new BulkRequest("f") { Operations = new BulkOperationsCollection { new BulkIndexOperation<Person>(new Person("a", 1)) { Id = "1" } } });
        Assert.Equal(429, rejected.ApiCallDetails.HttpStatusCode);
        Assert.Equal("es_rejected_execution_exception", rejected.ElasticsearchServerError!.Error!.Type);
        var again = await _client.BulkAsync(new BulkRequest("f") { Operations = new BulkOperationsCollection { new BulkIndexOperation<Person>(new Person("a", 1)) { Id = "1" } } });
        var through = await _client.BulkAsync(new BulkRequest("f") { Operations = new BulkOperationsCollection { new BulkIndexOperation<Person>(new Person("a", 1)) { Id = "1" } } });
        Assert.Equal(429, again.ApiCallDetails.HttpStatusCode);
        Assert.False(through.Errors);
        Assert.Equal(2, _fake.Faults.Fired("request"));

        _fake.Faults.FailNextBulkItems(1, 503);
        var partial = await _client.BulkAsync(new BulkRequest("f")
        {
            Operations = new BulkOperationsCollection
            {
                new BulkIndexOperation<Person>(new Person("b", 2)) { Id = "2" },
                new BulkIndexOperation<Person>(new Person("c", 3)) { Id = "3" },
            },
        });

        Assert.True(partial.Errors);
        Assert.Equal([503, 201], partial.Items.Select(i => i.Status));
        Assert.Equal("unavailable_shards_exception", partial.Items.First().Error!.Type);
        Assert.Equal(1, _fake.Faults.Fired("bulkItem"));
        Assert.Equal(["1", "3"], _fake.Documents("f").Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Security_refuses_missing_credentials_and_accepts_an_api_key_and_basic_auth()
    {
        await using var secured = FakeElasticsearch.Start(new FakeElasticsearchOptions { RequiredApiKey = "a2V5OnNlY3JldA==", RequiredBasicAuth = ("elastic", "changeme") });

        var anonymous = await new ElasticsearchClient(new ElasticsearchClientSettings(secured.Url)).InfoAsync();
        var withKey = await new ElasticsearchClient(new ElasticsearchClientSettings(secured.Url).Authentication(new ApiKey("a2V5OnNlY3JldA=="))).InfoAsync();
        var withBasic = await new ElasticsearchClient(new ElasticsearchClientSettings(secured.Url).Authentication(new BasicAuthentication("elastic", "changeme"))).InfoAsync();

        Assert.Equal(401, anonymous.ApiCallDetails.HttpStatusCode);
        Assert.Equal("security_exception", anonymous.ElasticsearchServerError!.Error!.Type);
        Assert.True(withKey.IsValidResponse, withKey.DebugInformation);
        Assert.True(withBasic.IsValidResponse, withBasic.DebugInformation);
    }

    [Fact]
    public async Task Every_answer_carries_the_product_header_even_errors()
    {
        using var http = new HttpClient();
        using var ok = await http.GetAsync(_fake.Url);
        using var missing = await http.GetAsync(new Uri(_fake.Url, "nope/_doc/1"));
        using var bad = await http.PostAsync(new Uri(_fake.Url, "_bulk"), new StringContent("{\"index\":{\"_index\":\"x\"}}", Encoding.UTF8, "application/x-ndjson"));

        Assert.Equal("Elasticsearch", Assert.Single(ok.Headers.GetValues("X-Elastic-Product")));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("Elasticsearch", Assert.Single(missing.Headers.GetValues("X-Elastic-Product")));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        using var body = JsonDocument.Parse(await bad.Content.ReadAsStringAsync());
        Assert.Equal("illegal_argument_exception", body.RootElement.GetProperty("error").GetProperty("type").GetString());
        Assert.Equal(400, body.RootElement.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task A_delayed_answer_is_still_parsed_and_the_delay_is_counted()
    {
        _fake.Faults.DelayNextResponses(TimeSpan.FromMilliseconds(50));

        var info = await _client.InfoAsync();

        Assert.True(info.IsValidResponse);
        Assert.Equal(1, _fake.Faults.Fired("delay"));
    }

    [Fact]
    public async Task Request_validation_fails_the_whole_request_like_the_server()
    {
        var internalWithVersion = await _client.IndexAsync(new IndexRequest<Person>(new Person("a", 1), "v", "1") { Version = 3 });
        var createExternal = await _client.BulkAsync(new BulkRequest("v")
        {
            Operations = new BulkOperationsCollection
            {
                new BulkIndexOperation<Person>(new Person("ok", 1)) { Id = "ok" },
                new BulkCreateOperation<Person>(new Person("b", 2)) { Id = "2", Version = 4, VersionType = VersionType.External },
            },
        });
        var longId = await _client.IndexAsync(new IndexRequest<Person>(new Person("a", 1), "v", new string('x', 513)));
        var badName = await _client.Indices.CreateAsync("Upper");

        Assert.Equal("action_request_validation_exception", internalWithVersion.ElasticsearchServerError!.Error!.Type);
        Assert.Equal(400, createExternal.ApiCallDetails.HttpStatusCode);
        Assert.Contains("create operations only support internal versioning", createExternal.ElasticsearchServerError!.Error!.Reason, StringComparison.Ordinal);
        Assert.Empty(_fake.Documents("v"));
        Assert.Contains("is too long, must be no longer than 512 bytes", longId.ElasticsearchServerError!.Error!.Reason, StringComparison.Ordinal);
        Assert.Equal("invalid_index_name_exception", badName.ElasticsearchServerError!.Error!.Type);
    }

    [Fact]
    public async Task Create_conflicts_with_a_live_document_and_external_gte_accepts_an_equal_version()
    {
        await _client.IndexAsync(new IndexRequest<Person>(new Person("a", 1), "c", "1") { Version = 5, VersionType = VersionType.External });

        var create = await _client.CreateAsync(new CreateRequest<Person>(new Person("b", 2), "c", "1"));
        var equalGte = await _client.IndexAsync(new IndexRequest<Person>(new Person("c", 3), "c", "1") { Version = 5, VersionType = VersionType.ExternalGte });
        var lowerGte = await _client.IndexAsync(new IndexRequest<Person>(new Person("d", 4), "c", "1") { Version = 4, VersionType = VersionType.ExternalGte });

        Assert.Equal(409, create.ApiCallDetails.HttpStatusCode);
        Assert.Contains("document already exists (current version [5])", create.ElasticsearchServerError!.Error!.Reason, StringComparison.Ordinal);
        Assert.Equal(Result.Updated, equalGte.Result);
        Assert.Equal(409, lowerGte.ApiCallDetails.HttpStatusCode);
        Assert.Equal("c", (await _client.GetAsync<Person>("c", "1")).Source!.Name);
    }

    [Fact]
    public async Task Bool_terms_exists_and_paging_select_documents_and_unknown_queries_are_parse_errors()
    {
        for (var i = 1; i <= 5; i++)
        {
            await _client.IndexAsync(new { name = i % 2 == 0 ? "even" : "odd", age = i, note = i == 3 ? null : "x" }, r => r.Index("q").Id(i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        await _client.Indices.RefreshAsync("q");
        var query = new BoolQuery
        {
            Filter = [new TermsQuery { Field = "age", Terms = new TermsQueryField([1, 2, 3, 4]) }],
            MustNot = [new TermQuery("name.keyword", "even")],
            Must = [new ExistsQuery { Field = "note" }],
        };
        var selected = await _client.SearchAsync<JsonElement>(new SearchRequest("q") { Query = query });
        var page = await _client.SearchAsync<JsonElement>(new SearchRequest("q") { From = 1, Size = 2, SeqNoPrimaryTerm = true });
        var text = await _client.SearchAsync<JsonElement>(new SearchRequest("q") { Query = new TermQuery("name", "EVEN") });
        var unknown = await _client.Transport.RequestAsync<StringResponse>(new EndpointPath(Elastic.Transport.HttpMethod.POST, "/q/_search"), PostData.String("{\"query\":{\"fuzzy_thing\":{}}}"));

        Assert.Equal(["1"], selected.Hits.Select(h => h.Id));
        Assert.Equal(5, page.Total);
        Assert.Equal(["2", "3"], page.Hits.Select(h => h.Id));
        Assert.All(page.Hits, h => Assert.Equal(1, h.PrimaryTerm));
        Assert.Empty(text.Hits); // a term query is not analysed: the text field holds the token "even", not "EVEN"
        Assert.Equal(400, unknown.ApiCallDetails.HttpStatusCode);
        Assert.Contains("unknown query [fuzzy_thing]", unknown.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_terms_query_over_many_values_matches_any_and_source_filtering_returns_only_the_included_fields()
    {
        for (var i = 1; i <= 6; i++)
        {
            await _client.IndexAsync(new { code = (i * 10).ToString(System.Globalization.CultureInfo.InvariantCulture), age = i, nested = new { a = i, b = "x" } }, r => r.Index("tq").Id(i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        await _client.Indices.RefreshAsync("tq");
        var byAge = new TermsQuery { Field = "age", Terms = new TermsQueryField([2, 4, 99, 4]) };
        var byCode = new TermsQuery { Field = "code.keyword", Terms = new TermsQueryField(["30", 50, "nope"]) };
        var filtered = await _client.SearchAsync<JsonElement>(new SearchRequest("tq")
        {
            Query = byAge,
            Source = new Elastic.Clients.Elasticsearch.Core.Search.SourceConfig(new Elastic.Clients.Elasticsearch.Core.Search.SourceFilter { Includes = new[] { "age", "nested.a" } }),
        });
        var codes = await _client.SearchAsync<JsonElement>(new SearchRequest("tq") { Query = byCode });

        Assert.Equal(["2", "4"], filtered.Hits.Select(h => h.Id));
        Assert.All(filtered.Hits, h => Assert.Equal(["age", "nested"], h.Source.EnumerateObject().Select(p => p.Name)));
        Assert.Equal(["a"], filtered.Hits.First().Source.GetProperty("nested").EnumerateObject().Select(p => p.Name));
        Assert.Equal(["3", "5"], codes.Hits.Select(h => h.Id));
    }

    [Fact]
    public async Task Dynamic_mapping_follows_the_server_defaults_and_strict_mappings_refuse_new_fields()
    {
        await _client.IndexAsync(new { s = "hello", d = "2024-01-31", n = 1, f = 1.5, b = true, o = new { x = 1 } }, r => r.Index("dyn").Id("1"));
        await _client.Indices.CreateAsync(new CreateIndexRequest("strict") { Mappings = new Elastic.Clients.Elasticsearch.Mapping.TypeMapping { Dynamic = Elastic.Clients.Elasticsearch.Mapping.DynamicMapping.Strict } });
        var refused = await _client.IndexAsync(new { extra = 1 }, r => r.Index("strict").Id("1"));

        var p = _fake.Mapping("dyn")!["properties"]!;
        Assert.Equal("text", p["s"]!["type"]!.GetValue<string>());
        Assert.Equal("keyword", p["s"]!["fields"]!["keyword"]!["type"]!.GetValue<string>());
        Assert.Equal("date", p["d"]!["type"]!.GetValue<string>());
        Assert.Equal("long", p["n"]!["type"]!.GetValue<string>());
        Assert.Equal("float", p["f"]!["type"]!.GetValue<string>());
        Assert.Equal("boolean", p["b"]!["type"]!.GetValue<string>());
        Assert.Equal("long", p["o"]!["properties"]!["x"]!["type"]!.GetValue<string>());
        Assert.Equal("strict_dynamic_mapping_exception", refused.ElasticsearchServerError!.Error!.Type);
    }

    public sealed record Person(
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("age")] int Age);
}

/// <summary>A clock that moves only when told.</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
