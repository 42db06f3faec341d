namespace Sync.Engine.DeadLetters;

/// <summary>Reads dead letters back as source records (<c>sync dlq</c>), telling what it read.</summary>
public interface IDeadLetterReader : ISourceReader
{
    /// <summary>The materializer's letters read so far, in order.</summary>
    IReadOnlyList<DeadLetterEntry> Seen { get; }

    /// <summary>Letters of other materializers passed over (they share a dead-letter topic).</summary>
    long OtherMaterializers { get; }
}
