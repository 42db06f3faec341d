using Sync.Engine.Config;

namespace Sync.Engine.Sinks;

/// <summary>Opens sinks of one type from their config.</summary>
public interface ISinkFactory
{
    /// <summary>The <c>type</c> value in the config, e.g. <c>sqlite</c>.</summary>
    string Type { get; }

    /// <summary>The options type the config section binds to.</summary>
    Type OptionsType { get; }

    ValueTask<ISink> OpenAsync(ComponentConfig sink, CancellationToken cancellationToken);
}
