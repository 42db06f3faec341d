using Xunit;

namespace Sync.Testing.Docker;

/// <summary>A theory that needs a Docker engine (Testcontainers); skipped with the reason printed
/// ("Docker is not available") where none runs, as <see cref="DockerFactAttribute"/>.</summary>
public sealed class DockerTheoryAttribute : TheoryAttribute
{
    public DockerTheoryAttribute()
    {
        if (!DockerEnvironment.IsAvailable)
        {
            Skip = DockerEnvironment.SkipReason;
        }
    }
}
