namespace Sync.Chaos.Tests;

/// <summary>The campaigns restart the shared PostgreSQL and Redis: no other test of this project
/// may run meanwhile. (scripts/test.sh runs the test projects one after another.)</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ChaosCollection
{
    public const string Name = "chaos";
}
