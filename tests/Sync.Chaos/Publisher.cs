using System.Diagnostics;
using Sync.Pulsar;

namespace Sync.Chaos;

/// <summary>
/// Publishes the generated changelog with our own Pulsar producer, one message at a time and in
/// order: a message counts in the model only once the broker confirmed it, and a refused send is
/// sent again before the next one, so that each topic holds the generator's order (a Debezium
/// Server tombstone always right after its delete).
/// </summary>
public sealed class Publisher : IAsyncDisposable
{
    private readonly PulsarClient _client;
    private readonly Dictionary<string, IPulsarProducer> _producers = new(StringComparer.Ordinal);
    private readonly ChangelogGenerator _generator;
    private readonly ReferenceModel _model;

    private Publisher(PulsarClient client, ChangelogGenerator generator, ReferenceModel model)
    {
        _client = client;
        _generator = generator;
        _model = model;
    }

    /// <summary>Sends that the broker refused and that were sent again.</summary>
    public int RefusedSends { get; private set; }

    public static async Task<Publisher> CreateAsync(Uri serviceUrl, ChangelogGenerator generator, ReferenceModel model)
    {
        var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = serviceUrl });
        var publisher = new Publisher(client, generator, model);
        foreach (var tenant in generator.Tenants)
        {
            publisher._producers[tenant.Topic] = await client.CreateProducerAsync(new ProducerOptions { Topic = tenant.Topic, BatchingEnabled = false });
        }

        return publisher;
    }

    public async Task PublishAsync(IEnumerable<ChangelogMessage> messages, CancellationToken cancellationToken)
    {
        foreach (var message in messages)
        {
            cancellationToken.ThrowIfCancellationRequested();
            await SendAsync(message);
        }
    }

    /// <summary>Publishes at <paramref name="ratePerSecond"/> until cancelled.</summary>
    public async Task PublishAtRateAsync(int ratePerSecond, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        long sent = 0;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var due = (long)(clock.Elapsed.TotalSeconds * ratePerSecond);
                while (sent < due && !cancellationToken.IsCancellationRequested)
                {
                    await SendAsync(_generator.Next());
                    sent++;
                }

                await Task.Delay(10, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The campaign stopped publishing.
        }
    }

    /// <summary>
    /// Publishes at <paramref name="ratePerSecond"/> for as long as <paramref name="cancellationToken"/>
    /// allows, keeping up to 512 sends in flight: the producer fixes each message's place on its
    /// topic when the send is issued, so order holds. For overload only: a refused send fails the
    /// burst instead of being sent again (no send faults are armed then).
    /// </summary>
    public async Task PublishPipelinedAsync(int ratePerSecond, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        long sent = 0;
        var inFlight = new Queue<(ChangelogMessage Message, ValueTask<MessageId> Receipt)>();
        while (!cancellationToken.IsCancellationRequested)
        {
            var due = (long)(clock.Elapsed.TotalSeconds * ratePerSecond);
            while (sent < due && !cancellationToken.IsCancellationRequested)
            {
                var message = _generator.Next();
                inFlight.Enqueue((message, _producers[message.Source.Topic].SendAsync(message.Message, CancellationToken.None)));
                sent++;
                if (inFlight.Count >= 512)
                {
                    await SettleAsync(inFlight, 256);
                }
            }

            await SettleAsync(inFlight, 0);
            await Task.Delay(1, CancellationToken.None);
        }

        await SettleAsync(inFlight, 0);
    }

    private async Task SettleAsync(Queue<(ChangelogMessage Message, ValueTask<MessageId> Receipt)> inFlight, int keep)
    {
        while (inFlight.Count > keep)
        {
            var (message, receipt) = inFlight.Dequeue();
            await receipt;
            _model.Apply(message);
        }
    }

    private async Task SendAsync(ChangelogMessage message)
    {
        var producer = _producers[message.Source.Topic];
        while (true)
        {
            try
            {
                // Never cancelled midway: a message the broker stored must be in the model.
                await producer.SendAsync(message.Message, CancellationToken.None);
                _model.Apply(message);
                return;
            }
            catch (PulsarException)
            {
                // SEND_ERROR (an injected persistence error): the broker stored nothing; send again.
                RefusedSends++;
                await Task.Delay(20, CancellationToken.None);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var producer in _producers.Values)
        {
            await producer.DisposeAsync();
        }

        await _client.DisposeAsync();
    }
}
