using Sync.Sources.File;
using Sync.Sources.Pulsar;

namespace Sync.Sources;

/// <summary>Every source type this build knows, by its config <c>type</c>.</summary>
public static class SourceCatalog
{
    public static IReadOnlyList<ISourceFactory> All { get; } = [new FileSourceFactory(), new PulsarSourceFactory()];

    /// <summary>The options types of every source, for reading a config's sources without sinks or formats.</summary>
    public static ComponentTypes Types()
    {
        var types = new ComponentTypes();
        foreach (var source in All)
        {
            types.Sources[source.Type] = source.OptionsType;
        }

        return types;
    }
}
