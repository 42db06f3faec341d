namespace Sync.Testing.Process;

/// <summary>Waits for a condition that another process makes true (a row appears), with a deadline.
/// For observing a separate process only; in-process tests use faults and events instead.</summary>
public static class Poll
{
    /// <summary>Against hangs only: a wait ends when its condition holds, and a loaded machine must
    /// not run out of this first.</summary>
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    public static async Task UntilAsync(Func<bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (true)
        {
            try
            {
                if (condition())
                {
                    return;
                }
            }
            catch (Exception e) when (e is IOException or InvalidOperationException || e.GetType().Name == "SqliteException")
            {
                // Not there yet (file or table still being created).
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the condition did not hold within {timeout ?? DefaultTimeout}");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>As <see cref="UntilAsync(Func{bool}, TimeSpan?)"/>, for conditions that query a server.</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the condition did not hold within {timeout ?? DefaultTimeout}");
            }

            await Task.Delay(50);
        }
    }
}
