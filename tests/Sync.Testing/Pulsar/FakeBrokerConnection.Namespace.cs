using System.Text.RegularExpressions;
using Sync.Pulsar;
using Sync.Pulsar.Protocol.Proto;

namespace Sync.Testing.Pulsar;

// GET_TOPICS_OF_NAMESPACE.
internal sealed partial class FakeBrokerConnection
{
    private void HandleGetTopicsOfNamespace(CommandGetTopicsOfNamespace request)
    {
        var prefix = $"persistent://{request.Namespace}/";
        // The broker lists the namespace's topics with partitions as separate names.
        var topics = Broker.TopicNames.Where(t => t.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        var filtered = false;
        if (request.HasTopicsPattern && request.TopicsPattern.Length > 0)
        {
            // With a pattern (protocol v19+), the broker filters as apache/pulsar
            // pulsar-common/src/main/java/org/apache/pulsar/common/topics/TopicList.java does: the
            // pattern loses its domain (removeTopicDomainScheme: "persistent://a/b/c.*" is matched
            // as "a/b/c.*", as Java clients send it), and the whole name without domain and without
            // the partition suffix must match (TopicsPattern.matches → Matcher.matches(), not find).
            if (RemoveTopicDomainScheme(request.TopicsPattern) is not { } withoutDomain)
            {
                SendError(request.RequestId, ServerError.UnknownError, $"Does not support topic domain: {request.TopicsPattern}");
                return;
            }
            var pattern = new Regex($"\\A(?:{withoutDomain})\\z", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
            topics = [.. topics.Where(t => pattern.IsMatch(TopicName.BaseName(t)["persistent://".Length..]))];
            filtered = true;
        }
        var hash = TopicListHash.Compute(topics);
        var unchanged = request.HasTopicsHash && request.TopicsHash == hash;
        var response = new CommandGetTopicsOfNamespaceResponse
        {
            RequestId = request.RequestId,
            Filtered = filtered,
            TopicsHash = hash,
            // An unchanged list is not sent again.
            Changed = !unchanged,
        };
        if (!unchanged)
        {
            response.Topics.AddRange(topics);
        }
        Send(new BaseCommand { Type = BaseCommand.Types.Type.GetTopicsOfNamespaceResponse, GetTopicsOfNamespaceResponse = response });
    }

    /// <summary>TopicList.removeTopicDomainScheme: the text before "://" loses a trailing
    /// "persistent" or "non-persistent" (so "^persistent://x" keeps its "^").</summary>
    private static string? RemoveTopicDomainScheme(string pattern)
    {
        var separator = pattern.IndexOf("://", StringComparison.Ordinal);
        if (separator < 0)
        {
            return pattern;
        }
        var prefix = pattern[..separator];
        var rest = pattern[(separator + 3)..];
        foreach (var domain in (string[])["non-persistent", "persistent"])
        {
            if (prefix.EndsWith(domain, StringComparison.Ordinal))
            {
                return prefix[..^domain.Length] + rest;
            }
        }
        return null;
    }
}
