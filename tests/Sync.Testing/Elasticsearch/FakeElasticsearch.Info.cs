using System.Text.Json.Nodes;

namespace Sync.Testing.Elasticsearch;

/// <summary>The root endpoint, <c>GET /</c>.</summary>
public sealed partial class FakeElasticsearch
{
    private string _clusterUuid = "ZmFrZS1jbHVzdGVyLXV1aWQ";

    /// <summary>The cluster's uuid, which <c>GET /</c> answers. A cluster keeps it for its life; a new
    /// cluster (one a snapshot is restored into, at the same address) has another, which a test sets here.</summary>
    public string ClusterUuid
    {
        get
        {
            lock (_gate)
            {
                return _clusterUuid;
            }
        }

        set
        {
            lock (_gate)
            {
                _clusterUuid = value;
            }
        }
    }

    /// <summary>GET / — the node's info; clients read <c>version.number</c> from it, and
    /// <c>cluster_uuid</c>: "the responding cluster's uuid as confirmed by cluster state"
    /// (https://www.elastic.co/guide/en/elasticsearch/reference/current/rest-api-root.html).</summary>
    private Reply Info() => new(200, new JsonObject
    {
        ["name"] = "fake-node-1",
        ["cluster_name"] = "fake-elasticsearch",
        ["cluster_uuid"] = ClusterUuid,
        ["version"] = new JsonObject
        {
            ["number"] = Options.ServerVersion,
            ["build_flavor"] = "default",
            ["build_type"] = "docker",
            ["build_hash"] = "0000000000000000000000000000000000000000",
            ["build_date"] = "2025-10-01T00:00:00.000Z",
            ["build_snapshot"] = false,
            ["lucene_version"] = "10.2.2",
            ["minimum_wire_compatibility_version"] = "8.19.0",
            ["minimum_index_compatibility_version"] = "8.0.0",
        },
        ["tagline"] = "You Know, for Search",
    });
}
