namespace Sync.Compliance.Tests.Steps;

/// <summary>A step's tests, each on a fresh <see cref="StepFixture"/>.</summary>
public abstract class StepTests : IAsyncLifetime
{
    protected StepFixture Fixture { get; } = new();

    public Task InitializeAsync() => Fixture.InitializeAsync();

    public Task DisposeAsync() => Fixture.DisposeAsync();
}
