namespace Sync.Pulsar.Internal;

/// <summary>
/// The fan-in of a consumer made of other consumers (the partitions of a topic, or several
/// topics): one pump per child moves the child's messages into one bounded
/// <see cref="MergedQueue"/>, which the composite's receives read. A full queue stops the pumps,
/// and each child then stops granting the broker permits.
/// </summary>
internal sealed class ConsumerFanIn
{
    private readonly CancellationTokenSource _shutdown = new();
    private readonly bool _childMayClose;

    /// <param name="capacity">Most messages held in the merged queue.</param>
    /// <param name="owner">Names the composite in errors.</param>
    /// <param name="childMayClose">Whether a child may close while the composite goes on (the
    /// consumer of a topic that vanished from a pattern): its pump then just ends. Otherwise a
    /// closed child fails the composite, as any failure of a child for good does.</param>
    public ConsumerFanIn(int capacity, Func<string> owner, bool childMayClose)
    {
        Queue = new MergedQueue(capacity, owner);
        _childMayClose = childMayClose;
    }

    public MergedQueue Queue { get; }

    /// <summary>Cancelled once the composite stops.</summary>
    public CancellationToken Stopping => _shutdown.Token;

    /// <summary>Starts moving <paramref name="child"/>'s messages into the queue; the task ends when the fan-in stops.</summary>
    public Task Start(IPulsarConsumer child) => Task.Run(() => PumpAsync(child));

    private async Task PumpAsync(IPulsarConsumer child)
    {
        try
        {
            while (true)
            {
                var message = await child.ReceiveAsync(_shutdown.Token);
                await Queue.WriteAsync(message, _shutdown.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (PulsarObjectClosedException) when (_childMayClose)
        {
        }
        catch (PulsarException e)
        {
            // A child that fails for good fails the whole consumer: silently reading the other
            // children would hide that a part of what was asked for is no longer consumed.
            Queue.Fail(e);
        }
    }

    /// <summary>Stops the pumps; the composite awaits them, disposes its children, then calls <see cref="Close"/>.</summary>
    public Task StopAsync() => _shutdown.CancelAsync();

    /// <summary>Ends the queue: readers get <see cref="PulsarObjectClosedException"/> from now on.</summary>
    public void Close()
    {
        Queue.Close();
        _shutdown.Dispose();
    }
}
