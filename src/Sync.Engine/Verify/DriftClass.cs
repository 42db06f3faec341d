namespace Sync.Engine.Verify;

/// <summary>How a key of a sink differs from the latest change of the key in its changelog.</summary>
public enum DriftClass
{
    /// <summary>The log says the row exists; the sink holds no row.</summary>
    Missing,

    /// <summary>The sink holds a row the log deleted or never had (or one of a subject the ledger erased: residue).</summary>
    Extra,

    /// <summary>The sink's version is older than the log's latest change.</summary>
    Stale,

    /// <summary>The sink's version is newer than anything the log holds: the topic lost data, or
    /// something else wrote the sink.</summary>
    Ahead,

    /// <summary>Same version, different values: a write behind sync's back or a mapping change.</summary>
    Different,
}

/// <summary>Names of the classes as people and JSON read them.</summary>
public static class DriftClasses
{
    public static IReadOnlyList<DriftClass> All { get; } = Enum.GetValues<DriftClass>();

    public static string Name(this DriftClass drift) => drift switch
    {
        DriftClass.Missing => "missing",
        DriftClass.Extra => "extra",
        DriftClass.Stale => "stale",
        DriftClass.Ahead => "ahead",
        _ => "different",
    };
}
