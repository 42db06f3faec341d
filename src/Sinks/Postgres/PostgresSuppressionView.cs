using Npgsql;
using Sync.Engine.Ledger;
using Sync.Engine.Runtime;

namespace Sync.Sinks.Postgres;

/// <summary>
/// A running process's copy of a PostgreSQL ledger's suppressed keys, pushed by the server.
/// <list type="bullet">
/// <item>One connection LISTENs on the ledger's channel; every write to the ledger NOTIFYs it when it
/// commits, and the copy is reloaded then, and at the latest every refresh interval. Npgsql raises
/// <see cref="NpgsqlConnection.Notification"/> only while it reads from the connection, so an idle
/// listener waits in <see cref="NpgsqlConnection.WaitAsync(TimeSpan, CancellationToken)"/>
/// (https://www.npgsql.org/doc/wait.html; the channel semantics: https://www.postgresql.org/docs/current/sql-notify.html).</item>
/// <item>LISTEN comes before the load, so no write committed after the load goes unheard.</item>
/// <item>When the connection drops or a reload fails, a notification may have been missed:
/// <see cref="CurrentAsync"/> throws <see cref="LedgerUnavailableException"/> until the view has
/// reconnected, listened again and reloaded. It throws too when the copy has not been reloaded for
/// well over the refresh interval (a listener stuck on a dead connection).</item>
/// </list>
/// Nothing connects before the first <see cref="CurrentAsync"/>. Safe to call from several threads.
/// </summary>
public sealed class PostgresSuppressionView : ISuppressionView
{
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(5);

    private readonly PostgresSuppressionLedger _ledger;
    private readonly TimeSpan _refresh;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stopping = new();
    private readonly TaskCompletionSource _firstAttempt = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _lock = new();
    private Task? _listening;
    private volatile Snapshot _snapshot = new(null, null, DateTimeOffset.MinValue);
    private volatile bool _changed;

    public PostgresSuppressionView(PostgresSuppressionLedger ledger, TimeSpan refreshInterval, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(ledger);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(refreshInterval, TimeSpan.Zero);
        _ledger = ledger;
        _refresh = refreshInterval;
        _time = time;
    }

    /// <summary>How long a copy may go without a reload before it is no longer trusted.</summary>
    public TimeSpan StaleAfter => _refresh * 2 + TimeSpan.FromSeconds(30);

    public async ValueTask<IReadOnlySet<(string Subject, string KeyHash)>> CurrentAsync(CancellationToken cancellationToken)
    {
        StartListening();
        if (!_firstAttempt.Task.IsCompleted)
        {
            await _firstAttempt.Task.WaitAsync(cancellationToken);
        }

        var snapshot = _snapshot;
        if (snapshot.Failure is { } failure)
        {
            throw new LedgerUnavailableException(failure.Message, failure.InnerException);
        }

        if (_time.GetUtcNow() - snapshot.LoadedAt > StaleAfter)
        {
            throw new LedgerUnavailableException($"the ledger in {_ledger.Location} has not been reloaded since {LedgerTime.Format(snapshot.LoadedAt)}");
        }

        return snapshot.Suppressed!;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        Task? listening;
        lock (_lock)
        {
            listening = _listening;
        }

        if (listening is not null)
        {
            await listening;
        }

        _stopping.Dispose();
    }

    private void StartListening()
    {
        lock (_lock)
        {
            _listening ??= Task.Run(() => ListenAsync(_stopping.Token));
        }
    }

    /// <summary>Connects, listens, loads, then reloads on every notification and at the latest every
    /// refresh interval; on any failure, publishes it, discards the connection and starts over with backoff.</summary>
    private async Task ListenAsync(CancellationToken cancellationToken)
    {
        var backoff = new Backoff(FirstRetryDelay, MaxRetryDelay);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await _ledger.ConnectAsync(cancellationToken);
                connection.Notification += (_, _) => _changed = true;
                await using (var listen = new NpgsqlCommand($"LISTEN {_ledger.Channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(cancellationToken);
                }

                while (true)
                {
                    _changed = false;
                    var suppressed = await _ledger.ReadSuppressedAsync(connection, cancellationToken);
                    Publish(new Snapshot(suppressed, null, _time.GetUtcNow()));
                    backoff.Reset();
                    if (!_changed)
                    {
                        // Returns on a notification, or false when the interval passed without one.
                        await connection.WaitAsync(_refresh, cancellationToken);
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // Whatever failed, the copy can no longer be trusted: the process must apply nothing until it is reloaded.
            catch (Exception e)
#pragma warning restore CA1031
            {
                Publish(new Snapshot(null, e as LedgerUnavailableException ?? _ledger.Unavailable(e), _time.GetUtcNow()));
            }

            try
            {
                await Task.Delay(backoff.Delay, _time, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            backoff.Increase();
        }
    }

    private void Publish(Snapshot snapshot)
    {
        _snapshot = snapshot;
        _firstAttempt.TrySetResult();
    }

    /// <summary>Either the suppressed keys as loaded at <paramref name="LoadedAt"/>, or why they cannot be trusted.</summary>
    private sealed record Snapshot(IReadOnlySet<(string Subject, string KeyHash)>? Suppressed, LedgerUnavailableException? Failure, DateTimeOffset LoadedAt);
}
