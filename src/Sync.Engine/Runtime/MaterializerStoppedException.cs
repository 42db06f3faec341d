namespace Sync.Engine.Runtime;

/// <summary>A materializer stopped for good, not by a failure that a retry may cure: the message says
/// why and what to do, <see cref="Materializer"/> names it.</summary>
public abstract class MaterializerStoppedException : Exception
{
    protected MaterializerStoppedException(string materializer, string message)
        : base(message)
    {
        Materializer = materializer;
    }

    /// <summary>The materializer that stopped.</summary>
    public string Materializer { get; }
}
