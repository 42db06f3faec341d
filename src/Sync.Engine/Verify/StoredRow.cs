namespace Sync.Engine.Verify;

/// <summary>What a sink holds for one key of a target, as <c>sync verify</c> compares it: the key, the
/// row's values as the sink reads them back (null for a delete marker: the key is absent, its version
/// kept so that an older change cannot bring it back), and the version stored with it.</summary>
/// <param name="Key">The key columns, named as the materializer's mapping names them.</param>
/// <param name="Image">The stored row's columns (key columns included), or null for a delete marker.</param>
/// <param name="Version">The version the sink stored for the key (<see cref="ChangeVersion"/>).</param>
public sealed record StoredRow(Row Key, Row? Image, ChangeVersion Version)
{
    /// <summary>True for a key the sink holds no row of, only its version.</summary>
    public bool IsMarker => Image is null;

    /// <summary>True for an erasure marker (<see cref="ChangeVersion.Erased"/>).</summary>
    public bool IsErased => Version.Lsn == long.MaxValue;
}
