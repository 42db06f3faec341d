namespace Sync.Deployment.Tests;

/// <summary>The test classes that share one <see cref="RunningSync"/> process.</summary>
[CollectionDefinition(Name)]
public sealed class RunningSyncCollection : ICollectionFixture<RunningSync>
{
    public const string Name = "running sync";
}
