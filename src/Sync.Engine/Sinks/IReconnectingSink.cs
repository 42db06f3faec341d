namespace Sync.Engine.Sinks;

/// <summary>A sink that says when its connection to the store came back after it was lost. The
/// store may have restarted meanwhile, from an older snapshot or empty, so the materializers writing
/// to it read their checkpoints back at once instead of at their next batch or periodic check.</summary>
public interface IReconnectingSink
{
    /// <summary>Raised, on the client library's thread, each time a lost connection is restored.
    /// Handlers only take note; the checkpoint is read elsewhere.</summary>
    event Action? Reconnected;
}
