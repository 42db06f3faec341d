namespace Sync.Engine.Checks;

/// <summary>An online check of one source or sink type, run by <c>sync check</c> before a run: it
/// connects with the configured settings and credentials and reports what a run would meet. Source
/// and sink factories implement it; a type without it is reported as not checked.</summary>
public interface IPreflightCheck
{
    /// <summary>The findings for one configured component. Throwing is allowed: the caller reports
    /// the exception as an error finding of the component.</summary>
    ValueTask<IReadOnlyList<CheckFinding>> CheckAsync(CheckScope scope, CancellationToken cancellationToken);
}
