using Sync.Sources.Pulsar;
using Sync.Pulsar.Protocol.Proto;

namespace Sync.Engine.Tests.Sources.Pulsar;

/// <summary>A materializer started while its broker restarts retries its first subscription; a
/// refusal that will not pass (authorization) fails at once. The backoff runs on a fake clock that
/// the test moves to the end of each wait as soon as the reader starts it, so the retry budget is
/// spent in fake time only and a slow machine cannot spend it for the reader.</summary>
public sealed class SubscribeRetryTests : PulsarSourceFixture
{
    private readonly WaitReportingClock _clock = new();

    private async Task<(string Topic, PulsarSourceReader Reader)> ReaderAsync(string name, string sourceExtra = "")
    {
        var topic = NewTopic(name);
        await using (var producer = await ProducerAsync(topic))
        {
            await PublishAsync(producer, 1, "c", "ann", 10);
        }

        return (topic, Reader(topic, sourceExtra: sourceExtra, time: _clock));
    }

    [Fact]
    public async Task A_first_subscription_refused_while_the_broker_is_not_ready_is_retried_until_it_is()
    {
        var (_, reader) = await ReaderAsync("not-ready");
        await using var _ = reader;
        Broker.Faults.FailNextSubscribes(3, ServerError.ServiceNotReady);
        using var timeout = new CancellationTokenSource(Patience);

        var batch = await FirstReadAsync(reader, timeout.Token);

        Assert.Single(batch!);
        Assert.Equal(3, reader.SubscribeRetries);
    }

    [Fact]
    public async Task A_refused_authorization_fails_at_once_with_the_subscription_named()
    {
        var (_, reader) = await ReaderAsync("unauthorized");
        await using var _ = reader;
        Broker.Faults.FailNextSubscribes(1, ServerError.AuthorizationError);
        using var timeout = new CancellationTokenSource(Patience);

        var failure = await Assert.ThrowsAsync<SourceException>(async () => await FirstReadAsync(reader, timeout.Token));

        Assert.Contains("subscribing sync-users for users failed", failure.Message, StringComparison.Ordinal);
        Assert.Equal(0, reader.SubscribeRetries);
    }

    [Fact]
    public async Task Retrying_ends_with_the_last_failure_once_the_retry_timeout_has_passed()
    {
        var (_, reader) = await ReaderAsync("gives-up", "    subscribeRetryTimeout: 400ms");
        await using var _ = reader;
        Broker.Faults.FailNextSubscribes(1_000, ServerError.ServiceNotReady);
        using var timeout = new CancellationTokenSource(Patience);
        var started = _clock.GetUtcNow();

        var failure = await Assert.ThrowsAsync<SourceException>(async () => await FirstReadAsync(reader, timeout.Token));

        Assert.Contains("subscribing sync-users for users failed", failure.Message, StringComparison.Ordinal);
        Assert.InRange(reader.SubscribeRetries, 1, 10);
        Assert.InRange(_clock.GetUtcNow() - started, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(400));
    }

    /// <summary>The reader's first batch, read while every backoff it starts is skipped.</summary>
    private Task<IReadOnlyList<SourceRecord>?> FirstReadAsync(PulsarSourceReader reader, CancellationToken cancellationToken) =>
        SkippingBackoffsAsync(reader.ReadBatchAsync(10, TimeSpan.Zero, cancellationToken).AsTask(), cancellationToken);

    /// <summary>Awaits <paramref name="read"/> while moving the clock to the end of every backoff
    /// the reader starts, the moment it starts it.</summary>
    private async Task<T> SkippingBackoffsAsync<T>(Task<T> read, CancellationToken cancellationToken)
    {
        using var done = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var skipping = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                _clock.Advance(await _clock.NextWaitAsync(done.Token));
            }
        });
        try
        {
            return await read;
        }
        finally
        {
            await done.CancelAsync();
            await Task.WhenAny(skipping);
        }
    }
}
