namespace Sync.Engine.Checks;

/// <summary>The findings of one configured source or sink.</summary>
/// <param name="Kind"><c>source</c> or <c>sink</c>.</param>
public sealed record ComponentCheckResult(string Kind, string Name, string Type, IReadOnlyList<CheckFinding> Findings);

/// <summary>What <c>sync check</c> found, source by source and sink by sink.</summary>
public sealed record PreflightReport(IReadOnlyList<ComponentCheckResult> Components)
{
    public int Errors => Components.Sum(c => c.Findings.Count(f => f.Severity == CheckSeverity.Error));

    public int Warnings => Components.Sum(c => c.Findings.Count(f => f.Severity == CheckSeverity.Warning));
}
