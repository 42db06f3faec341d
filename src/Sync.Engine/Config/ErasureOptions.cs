using System.ComponentModel;

namespace Sync.Engine.Config;

/// <summary>Settings of <c>sync erase</c> and of suppression in the runtime.</summary>
public sealed class ErasureOptions : IValidatable
{
    public const int MinimumSecretLength = 16;

    [Secret]
    [Description("Secret of the keyed hash (HMAC-SHA256) that stands for a subject's key in the ledger and reports; at least 16 characters. Use `${SYNC_ERASURE_SECRET}`.")]
    public string? Secret { get; set; }

    [Description("The suppression ledger: a SQLite file (a path, or `{ file: PATH }`; default `sync-ledger.db` next to the config), `{ postgres: SINK }` or `{ topic: TOPIC }`; see docs/gdpr.md for a fleet.")]
    public LedgerOptions Ledger { get; set; } = new();

    [Description("Longest time a running materializer keeps its copy of the ledger; a new entry is noticed sooner (a file ledger's change within 20 ms, a postgres ledger's by notification, a topic ledger's as it is read).")]
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(5);

    [Description("Longest wait for a topic's compaction.")]
    public TimeSpan CompactionTimeout { get; set; } = TimeSpan.FromMinutes(5);

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        if (Secret is not null && Secret.Length < MinimumSecretLength)
        {
            problems.Add($"{path}.secret (***) must be at least {MinimumSecretLength} characters");
        }

        problems.MustBePositive($"{path}.refreshInterval", RefreshInterval);
        problems.MustBePositive($"{path}.compactionTimeout", CompactionTimeout);

        return problems;
    }
}
