namespace Sync.Engine.Sources;

/// <summary>Something the source delivered that is not a valid message.</summary>
/// <param name="Location">Where, for people: <c>changelog.jsonl:17</c>.</param>
/// <param name="Topic">The topic, when it could be read.</param>
/// <param name="Position">The position in the stream.</param>
/// <param name="Reason">What is wrong.</param>
/// <param name="Raw">The raw bytes as delivered.</param>
public sealed record SourceError(string Location, string? Topic, StreamPosition Position, string Reason, ReadOnlyMemory<byte> Raw);
