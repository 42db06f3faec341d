namespace Sync.Cli.Tests;

/// <summary>Tests that each get a fresh directory for their config, changelog and databases,
/// deleted after the test.</summary>
public abstract class WorkspaceTests : IDisposable
{
    protected Workspace Workspace { get; } = new();

    public void Dispose()
    {
        Workspace.Dispose();
        GC.SuppressFinalize(this);
    }
}
