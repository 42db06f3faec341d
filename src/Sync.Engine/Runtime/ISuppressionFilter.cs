using Sync.Engine.Changes;

namespace Sync.Engine.Runtime;

/// <summary>Tells whether a change belongs to an erased data subject; such changes are counted as
/// suppressed and never applied, so no replay brings an erased subject back.</summary>
public interface ISuppressionFilter
{
    bool IsSuppressed(ChangeEvent change);
}

/// <summary>Suppresses nothing: materializers that carry no subject.</summary>
public sealed class NoSuppression : ISuppressionFilter
{
    public static NoSuppression Instance { get; } = new();

    public bool IsSuppressed(ChangeEvent change) => false;
}
