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
            // With a pattern (protocol v19+), the broker filters by it as the client would:
            // against the name without domain and without the partition suffix.
            var pattern = new Regex(request.TopicsPattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
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
}
