namespace Sync.Sinks.Redis;

/// <summary><c>sync validate</c>'s advice for a Redis sink with <c>cluster: true</c>: a key template
/// whose hash tag is constant puts every key of its target in one slot, so one primary holds and
/// writes them all. Allowed, but it defeats the cluster. Only <c>cluster: true</c> is known without
/// connecting; a cluster detected when the sink opens is not advised on.</summary>
internal static class RedisClusterAdvice
{
    public static IReadOnlyList<CheckFinding> Advise(CheckScope scope)
    {
        if (scope.Component.Options is not RedisSinkOptions { Cluster: true })
        {
            return [];
        }

        var findings = new List<CheckFinding>();
        foreach (var (materializer, options) in scope.Materializers)
        {
            if (options.Target is RedisTargetOptions { KeyTemplate: { } text }
                && RedisKeyTemplate.TryParse(text, out var template, out _)
                && template.ConstantHashTag is { } tag)
            {
                findings.Add(CheckFinding.Warning(
                    "cluster slots",
                    $"materializers.{materializer}.target.keyTemplate ({text}) has the constant hash tag {{{tag}}}: Redis Cluster hashes only the tag, so every key of the target lands in one slot, on one primary, which defeats the cluster",
                    "put a key column inside the hash tag, or leave the tag out, unless one slot is intended"));
            }
        }

        return findings;
    }
}
