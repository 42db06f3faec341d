using System.Runtime.Serialization;

namespace Sync.Compliance.Erasure;

/// <summary>How a topic's compaction ended in an erasure. The text is the report's, by <see cref="ErasureText"/>;
/// a failure shows the log's own status and error instead.</summary>
public enum CompactionState
{
    [EnumMember(Value = "SUCCESS")]
    Succeeded,

    [EnumMember(Value = "ERROR")]
    Failed,

    [EnumMember(Value = "TIMEOUT")]
    TimedOut,

    /// <summary>No compaction ran for the topic.</summary>
    [EnumMember(Value = "not run")]
    NotRun,

    [EnumMember(Value = "not run (dry run)")]
    DryRun,
}
