namespace Sync.Engine.Checks;

/// <summary>How much a pre-flight finding matters: <see cref="Error"/> findings make <c>sync check</c> exit 3.</summary>
public enum CheckSeverity
{
    /// <summary>Checked and as it should be.</summary>
    Ok,

    /// <summary>Works, but deserves a look (a default that may surprise, a setting that could not be read).</summary>
    Warning,

    /// <summary>A run with this config would fail or could lose or regress data.</summary>
    Error,
}
