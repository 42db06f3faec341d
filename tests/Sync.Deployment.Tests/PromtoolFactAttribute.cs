namespace Sync.Deployment.Tests;

/// <summary>A test that runs Prometheus' <c>promtool</c>: skipped, with the reason, where it is not
/// on PATH. scripts/lib/services.sh installs it from Debian's <c>prometheus</c> package.</summary>
public sealed class PromtoolFactAttribute : FactAttribute
{
    public PromtoolFactAttribute()
    {
        if (Promtool.Path is null)
        {
            Skip = "promtool is not installed: apt-get install prometheus (Debian's package carries it), or run scripts/test.sh, which installs it";
        }
    }
}
