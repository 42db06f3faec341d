namespace Sync.Engine.Checks;

/// <summary>One result of a pre-flight check of a source or sink.</summary>
/// <param name="Severity">Whether it is fine, worth a look, or must be fixed before a run.</param>
/// <param name="Check">What was checked, in a few words (<c>reachable</c>, <c>privileges on public.users</c>).</param>
/// <param name="Message">What was found.</param>
/// <param name="Action">What to do about it; null for findings that need nothing.</param>
public sealed record CheckFinding(CheckSeverity Severity, string Check, string Message, string? Action = null)
{
    public static CheckFinding Ok(string check, string message) => new(CheckSeverity.Ok, check, message);

    public static CheckFinding Warning(string check, string message, string action) => new(CheckSeverity.Warning, check, message, action);

    public static CheckFinding Error(string check, string message, string action) => new(CheckSeverity.Error, check, message, action);
}
