using Xunit;

namespace Sync.Testing.Docker;

/// <summary>Whether a Docker engine is reachable for Testcontainers.</summary>
public static class DockerEnvironment
{
    /// <summary>The reason printed for tests that need Docker where none runs.</summary>
    public const string SkipReason = "Docker is not available";

    public static bool IsAvailable =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DOCKER_HOST")) || File.Exists("/var/run/docker.sock");
}

/// <summary>A test that needs a Docker engine (Testcontainers). Where none runs, it is skipped with
/// the reason printed: "Docker is not available".</summary>
public sealed class DockerFactAttribute : FactAttribute
{
    public DockerFactAttribute()
    {
        if (!DockerEnvironment.IsAvailable)
        {
            Skip = DockerEnvironment.SkipReason;
        }
    }
}
