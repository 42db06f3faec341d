namespace Sync.Pulsar.Internal;

/// <summary>What a connection needs to know about a producer it carries.</summary>
internal interface IProducerChannel
{
    void OnSendReceipt(CommandSendReceipt receipt);

    void OnSendError(CommandSendError error);

    void OnClosed(Exception reason);
}
