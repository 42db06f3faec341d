using System.Collections.Concurrent;
using System.Diagnostics;
using Spectre.Console;

namespace Sync.Cli.Output;

/// <summary>Progress of a backfill on standard error: a live bar per materializer when standard
/// error is a terminal, else a plain line per materializer every few seconds and one when it ends.
/// Shows events read, events/s and, where the source can count its backlog before the start
/// (changelog files), the share done and an ETA. On Pulsar the number of messages is not known in
/// advance (entries hold batches, ledgers roll over), so progress shows events and rate only.</summary>
internal sealed class BackfillProgress : IAsyncDisposable
{
    private static readonly TimeSpan PlainInterval = TimeSpan.FromSeconds(2);
    private readonly TextWriter _error;
    private readonly IReadOnlyDictionary<string, long?> _totals;
    private readonly ConcurrentDictionary<string, MaterializerCounters> _counters = new(StringComparer.Ordinal);
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private BackfillProgress(TextWriter error, IReadOnlyDictionary<string, long?> totals, bool live)
    {
        _error = error;
        _totals = totals;
        _loop = live ? Task.Run(LiveAsync) : Task.Run(PlainAsync);
    }

    /// <summary>Counts each selected materializer's backlog where its source can, then starts showing progress.</summary>
    /// <param name="countTotals">False for a backfill that does not start at the earliest message
    /// (<c>--from</c>): the backlog counted from the start would overstate it, so only events and rate show.</param>
    public static async Task<BackfillProgress> StartAsync(SyncConfig config, SyncComponents components, IEnumerable<KeyValuePair<string, MaterializerOptions>> selected, TextWriter error, CancellationToken cancellationToken, bool countTotals = true)
    {
        var totals = new Dictionary<string, long?>(StringComparer.Ordinal);
        foreach (var (name, options) in selected)
        {
            totals[name] = countTotals ? await CountAsync(config, components, options, cancellationToken) : null;
        }

        var live = ReferenceEquals(error, Console.Error) && !Console.IsErrorRedirected;
        return new BackfillProgress(error, totals, live);
    }

    /// <summary>Follows a materializer that has started (<see cref="SyncRuntime.Started"/>).</summary>
    public void Track(string name, MaterializerCounters counters) => _counters[name] = counters;

    /// <summary>Stops the display and prints one final line per materializer.</summary>
    public async Task FinishAsync(IReadOnlyList<MaterializerOutcome> outcomes)
    {
        await StopAsync();
        foreach (var outcome in outcomes)
        {
            await _error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"backfill {outcome.Name}: {Result(outcome)}, {outcome.Counters.Read:N0} events in {outcome.Elapsed.TotalSeconds:0.0} s"));
        }
    }

    private static string Result(MaterializerOutcome outcome) => outcome switch
    {
        { Failure: not null } => "failed",
        { End: MaterializerEnd.Interrupted } => "interrupted before the end",
        { End: MaterializerEnd.Stopped } => "stopped",
        _ => "done",
    };

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
    }

    private async Task StopAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await _stop.CancelAsync();
            await _loop;
        }
    }

    private static async Task<long?> CountAsync(SyncConfig config, SyncComponents components, MaterializerOptions options, CancellationToken cancellationToken)
    {
        var source = config.Sources[options.Source];
        try
        {
            await using var log = components.Sources[source.Type].OpenLog(source);
            var ends = await log.EndsAsync(options.TopicFilter(), new Dictionary<string, Sync.Engine.Changes.StreamPosition>(), cancellationToken);
            return ends.All(e => e.Behind is not null) ? ends.Sum(e => e.Behind!.Value) : null;
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            // Progress without a total is still progress; the backfill itself reports real failures.
            return null;
        }
    }

    /// <summary>One line: events read, of how many when known, the rate, and the ETA.</summary>
    internal static string Describe(string name, long read, long? total, TimeSpan elapsed)
    {
        var rate = elapsed.TotalSeconds > 0 ? read / elapsed.TotalSeconds : 0;
        if (total is not { } all || all <= 0)
        {
            return string.Create(CultureInfo.InvariantCulture, $"backfill {name}: {read:N0} events, {rate:N0} events/s");
        }

        var share = Math.Min(100.0, 100.0 * read / all);
        var eta = rate > 0 && read < all ? TimeSpan.FromSeconds((all - read) / rate) : TimeSpan.Zero;
        return string.Create(CultureInfo.InvariantCulture, $"backfill {name}: {read:N0} of {all:N0} events ({share:0}%), {rate:N0} events/s, ETA {FormatEta(eta)}");
    }

    private static string FormatEta(TimeSpan eta) =>
        eta.TotalHours >= 1 ? $"{(int)eta.TotalHours}h{eta.Minutes:00}m" : eta.TotalMinutes >= 1 ? $"{(int)eta.TotalMinutes}m{eta.Seconds:00}s" : $"{(int)Math.Ceiling(eta.TotalSeconds)}s";

    private async Task PlainAsync()
    {
        try
        {
            while (true)
            {
                await Task.Delay(PlainInterval, _stop.Token);
                foreach (var (name, counters) in _counters.OrderBy(c => c.Key, StringComparer.Ordinal))
                {
                    await _error.WriteLineAsync(Describe(name, counters.Read, _totals.GetValueOrDefault(name), _clock.Elapsed));
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task LiveAsync()
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(_error) });
        await console.Progress()
            .AutoClear(true)
            .Columns(new ProgressBarColumn(), new TaskDescriptionColumn { Alignment = Justify.Left })
            .StartAsync(async context =>
            {
                var tasks = new Dictionary<string, ProgressTask>(StringComparer.Ordinal);
                while (!_stop.IsCancellationRequested)
                {
                    foreach (var (name, counters) in _counters)
                    {
                        var total = _totals.GetValueOrDefault(name);
                        if (!tasks.TryGetValue(name, out var task))
                        {
                            tasks[name] = task = context.AddTask(name, maxValue: total ?? 1);
                            task.IsIndeterminate = total is null;
                        }

                        task.Description = Markup.Escape(Describe(name, counters.Read, total, _clock.Elapsed));
                        if (total is not null)
                        {
                            task.Value = Math.Min(counters.Read, total.Value);
                        }
                    }

                    try
                    {
                        await Task.Delay(200, _stop.Token);
                    }
                    catch (OperationCanceledException)
                    {
                    }
                }
            });
    }
}
