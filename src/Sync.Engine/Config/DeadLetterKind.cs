namespace Sync.Engine.Config;

/// <summary>Kinds of dead-letter target a materializer can have.</summary>
public enum DeadLetterKind
{
    /// <summary>A topic <c>&lt;topic&gt;-sync-dlq</c> per origin topic, on the materializer's own Pulsar source.</summary>
    Topic,

    /// <summary>A JSON Lines file (<c>deadLetter:</c>).</summary>
    File,

    /// <summary>A table in the materializer's sink database, written in the batch's own transaction
    /// (PostgreSQL and SQLite sinks).</summary>
    Table,
}
