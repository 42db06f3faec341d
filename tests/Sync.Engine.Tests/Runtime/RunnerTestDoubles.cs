namespace Sync.Engine.Tests.Runtime;

/// <summary>What a materializer run's stages (reading and applying) did, in order.</summary>
internal sealed class EventLog
{
    private readonly List<string> _entries = [];

    public IReadOnlyList<string> Entries
    {
        get
        {
            lock (_entries)
            {
                return [.. _entries];
            }
        }
    }

    public void Add(string entry)
    {
        lock (_entries)
        {
            _entries.Add(entry);
        }
    }

    public int IndexOf(string entry) => Entries.ToList().IndexOf(entry);
}

/// <summary>A dead-letter target for runs that must not produce any: a letter fails the test.</summary>
internal sealed class NoDeadLetters : IDeadLetterTarget
{
    public string Description => "none";

    public void Add(string stage, SourceMessage message, string reason) => throw new InvalidOperationException($"unexpected dead letter: {reason}");

    public void Add(SourceError error) => throw new InvalidOperationException($"unexpected dead letter: {error.Reason}");

    public ValueTask FlushAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    public void Flush()
    {
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
