namespace Sync.Testing.Pulsar;

/// <summary>
/// Bytes no real broker would send, for testing what the client does with a malicious or broken
/// peer. They leave after every frame already queued on this connection, in order.
/// </summary>
internal sealed partial class FakeBrokerConnection
{
    private volatile bool _closeAfterWrites;

    /// <summary>Queues raw bytes; with <paramref name="thenClose"/> the socket is closed once they are written.</summary>
    internal void SendRawLocked(byte[] bytes, bool thenClose)
    {
        _broker.Options.Trace?.Invoke($"-> {bytes.Length} raw bytes{(thenClose ? ", then close" : string.Empty)}");
        _outgoing.Writer.TryWrite(bytes);
        if (thenClose)
        {
            _closeAfterWrites = true;
            _outgoing.Writer.TryComplete();
        }
    }
}
