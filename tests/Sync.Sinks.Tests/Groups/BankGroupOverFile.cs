using Microsoft.Extensions.Logging;
using Sync.Engine.Formats;
using Sync.Sources.File;
using Sync.Testing.Files;

namespace Sync.Sinks.Tests.Groups;

/// <summary>The consistency group <c>bank</c> of <see cref="BankTransfers"/>, read in-process from a
/// changelog file in <c>directory</c> into the SQLite sink <c>local</c> there, in batches of 20.</summary>
internal static class BankGroupOverFile
{
    /// <summary>A bound on each run, so that a group that never stops fails the test instead of hanging
    /// it; not a measure of speed.</summary>
    private static readonly TimeSpan RunBound = TimeSpan.FromMinutes(3);

    public static string Changelog(string directory) => Path.Combine(directory, "bank.jsonl");

    public static string Database(string directory) => Path.Combine(directory, "bank.db");

    public static string ConfigText(string directory) => $$"""
        sources:
          changelog: { type: file, path: '{{Changelog(directory)}}' }
        sinks:
          local: { type: sqlite, path: '{{Database(directory)}}' }

        """ + BankTransfers.Materializers("    batchSize: 20") + BankTransfers.GroupConfig;

    public static SyncConfig Parse(string directory, SyncComponents components) =>
        ConfigLoader.Parse(ConfigText(directory), Path.Combine(directory, "sync.yaml"), components.Types, _ => null);

    /// <summary>Runs the group over the changelog already written, with <paramref name="sinks"/>, on
    /// <paramref name="time"/>, until it ends.</summary>
    public static async Task<IReadOnlyList<MaterializerOutcome>> RunAsync(string directory, IEnumerable<ISinkFactory> sinks, TimeProvider time, ILoggerFactory logs)
    {
        var components = new SyncComponents([new FileSourceFactory()], sinks, MessageFormats.Names, MessageFormats.Create);
        var runtime = new SyncRuntime(Parse(directory, components), components, logs) { Time = time };
        return await runtime.RunAsync([], RunMode.Resume, CancellationToken.None).WaitAsync(RunBound);
    }

    /// <summary>Asserts that the sink's accounts hold every balance the bank ended with.</summary>
    public static void AssertBalances(string directory, BankTransfers bank) => Assert.Equal(
        Enumerable.Range(1, bank.Accounts).Select(id => $"id={id}|balance={bank.Balances[id]}"),
        SqliteTables.Rows(Database(directory), "accounts"));
}
