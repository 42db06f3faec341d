using Sync.Engine.Runtime;

namespace Sync.Sinks.Elasticsearch;

/// <summary>Declared epoch bumps (<see cref="SourceEpochs.BumpPrefix"/>) in a checkpoint document of
/// their own. The checkpoint is one document per materializer, written whole from what the writer
/// last read, so a run would overwrite a declaration that <c>sync epoch bump</c> added to it; in a
/// document that only the command writes, the declaration stays until the run reads it. The record of
/// the last verification (<see cref="Sync.Engine.Verify.LastVerification"/>), which only <c>sync verify</c>
/// writes, is kept there too.</summary>
internal sealed partial class ElasticsearchWriter
{
    private static string DeclarationsOf(string materializer) => materializer + "#epoch-bumps";

    private static bool IsCommandEntry(string name) =>
        name.StartsWith(SourceEpochs.BumpPrefix, StringComparison.Ordinal) || Sync.Engine.Verify.LastVerification.IsEntry(name);

    /// <summary>Stores the checkpoint's declarations in their document (merged with the stored ones)
    /// and returns the rest of the checkpoint.</summary>
    private async Task<IReadOnlyDictionary<string, StreamPosition>> StoreDeclarationsAsync(string materializer, IReadOnlyDictionary<string, StreamPosition> checkpoint, CancellationToken cancellationToken)
    {
        if (!checkpoint.Keys.Any(IsCommandEntry))
        {
            return checkpoint;
        }

        var declarations = await ReadCheckpointDocumentAsync(DeclarationsOf(materializer), cancellationToken);
        var rest = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        foreach (var (name, position) in checkpoint)
        {
            (IsCommandEntry(name) ? declarations : rest)[name] = position;
        }

        await WriteCheckpointAsync(DeclarationsOf(materializer), declarations, cancellationToken);
        return rest;
    }
}
