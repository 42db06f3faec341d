using Xunit;

namespace Sync.Testing.Docker;

/// <summary>A test that needs a Docker engine (Testcontainers). Where none runs, it is skipped with
/// the reason printed: "Docker is not available".</summary>
public sealed class DockerFactAttribute : FactAttribute
{
    public DockerFactAttribute()
    {
        if (!DockerIsAvailable())
        {
            Skip = "Docker is not available";
        }
    }

    private static bool DockerIsAvailable() =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DOCKER_HOST")) || File.Exists("/var/run/docker.sock");
}
