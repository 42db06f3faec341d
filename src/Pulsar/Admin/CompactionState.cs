namespace Sync.Pulsar.Admin;

/// <summary>State of a topic's compaction as the admin API reports it.</summary>
public enum CompactionState
{
    NotRun,
    Running,
    Success,
    Error,
}
