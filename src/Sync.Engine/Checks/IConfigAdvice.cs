namespace Sync.Engine.Checks;

/// <summary>Offline advice of one source or sink type, given by <c>sync validate</c> without connecting:
/// settings that are valid but work against what the component is for. Only warnings; a setting that
/// cannot work is a config problem instead.</summary>
public interface IConfigAdvice
{
    /// <summary>The warnings for one configured component and the materializers that use it.</summary>
    IReadOnlyList<CheckFinding> Advise(CheckScope scope);
}
