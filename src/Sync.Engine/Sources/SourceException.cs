namespace Sync.Engine.Sources;

/// <summary>A source cannot be read (missing file, lost connection that cannot be recovered).</summary>
public sealed class SourceException : Exception
{
    public SourceException(string message)
        : base(message)
    {
    }

    public SourceException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public SourceException()
    {
    }
}
