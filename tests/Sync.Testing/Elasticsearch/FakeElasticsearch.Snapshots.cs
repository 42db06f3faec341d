namespace Sync.Testing.Elasticsearch;

/// <summary>The effect of a snapshot restore (<c>POST _snapshot/REPO/SNAP/_restore</c>): the
/// snapshotted indices come back with the documents, versions and mappings they had when the
/// snapshot was taken; indices not in the snapshot are left alone
/// (https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-snapshot-restore). The
/// repository API itself is not modelled: a test takes and restores the copy directly.</summary>
public sealed partial class FakeElasticsearch
{
    /// <summary>A copy of every index as it is now.</summary>
    public object TakeSnapshot()
    {
        lock (_gate)
        {
            return _indices.ToDictionary(
                i => i.Key,
                i => (Docs: new Dictionary<string, FakeDoc>(i.Value.Docs, StringComparer.Ordinal), Mappings: i.Value.Mappings.DeepClone().AsObject()),
                StringComparer.Ordinal);
        }
    }

    /// <summary>Puts the indices of <paramref name="snapshot"/> back as they were (refreshed, as a restored index is).</summary>
    public void RestoreSnapshot(object snapshot)
    {
        var copy = (Dictionary<string, (Dictionary<string, FakeDoc> Docs, System.Text.Json.Nodes.JsonObject Mappings)>)snapshot;
        lock (_gate)
        {
            foreach (var (name, (docs, mappings)) in copy)
            {
                if (!_indices.TryGetValue(name, out var index))
                {
                    continue;
                }

                index.Docs.Clear();
                foreach (var (id, doc) in docs)
                {
                    index.Docs[id] = doc;
                }

                index.Mappings = mappings.DeepClone().AsObject();
                index.Refresh();
            }
        }
    }

    /// <summary>Removes every document of every index (a cluster whose data was lost, indices recreated empty).</summary>
    public void ClearDocuments()
    {
        lock (_gate)
        {
            foreach (var index in _indices.Values)
            {
                index.Docs.Clear();
                index.Refresh();
            }
        }
    }
}
