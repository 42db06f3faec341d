using Sync.Pulsar.Protocol.Proto;

namespace Sync.Testing.Pulsar;

// LOOKUP and PARTITIONED_METADATA.
internal sealed partial class FakeBrokerConnection
{
    private void HandleLookup(CommandLookupTopic lookup)
    {
        if (Broker.Faults.TakeLookupRedirect(out var proxyThrough))
        {
            if (proxyThrough)
            {
                // A broker behind a proxy answers Connect with proxy_through_service_url: the
                // client must stay on the service URL and name the broker in CONNECT.
                SendLookupResponse(lookup.RequestId, CommandLookupTopicResponse.Types.LookupType.Connect, proxyThroughServiceUrl: true);
                return;
            }
            // A broker that does not own the topic answers Redirect to the owner, authoritative
            // when it knows for sure; the client asks again there, echoing that flag.
            SendLookupResponse(lookup.RequestId, CommandLookupTopicResponse.Types.LookupType.Redirect);
            return;
        }
        Broker.LastLookupWasAuthoritative = lookup.Authoritative;
        // A standalone broker owns every topic: it answers Connect with its own URL and
        // authoritative=true, and never redirects.
        SendLookupResponse(lookup.RequestId, CommandLookupTopicResponse.Types.LookupType.Connect);
    }

    /// <summary>Answers a lookup with this broker's URL, authoritative.</summary>
    private void SendLookupResponse(ulong requestId, CommandLookupTopicResponse.Types.LookupType response, bool proxyThroughServiceUrl = false)
    {
        var url = Broker.ServiceUrl.ToString().TrimEnd('/');
        var answer = new CommandLookupTopicResponse
        {
            RequestId = requestId,
            Response = response,
            BrokerServiceUrl = url,
            // A TLS broker names its TLS URL in brokerServiceUrlTls; TLS clients use that one.
            BrokerServiceUrlTls = Broker.Options.TlsCertificate is null ? string.Empty : url,
            Authoritative = true,
        };
        if (proxyThroughServiceUrl)
        {
            answer.ProxyThroughServiceUrl = true;
        }

        Send(new BaseCommand { Type = BaseCommand.Types.Type.LookupResponse, LookupTopicResponse = answer });
    }

    private void HandlePartitionedMetadata(CommandPartitionedTopicMetadata request)
    {
        int partitions;
        lock (Broker.Sync)
        {
            partitions = Broker.PartitionCountLocked(request.Topic);
        }
        // 0 partitions means "not partitioned"; the client then uses the topic name as is.
        Send(new BaseCommand
        {
            Type = BaseCommand.Types.Type.PartitionedMetadataResponse,
            PartitionMetadataResponse = new CommandPartitionedTopicMetadataResponse
            {
                RequestId = request.RequestId,
                Partitions = (uint)partitions,
                Response = CommandPartitionedTopicMetadataResponse.Types.LookupType.Success,
            },
        });
    }
}
