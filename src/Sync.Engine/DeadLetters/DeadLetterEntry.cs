namespace Sync.Engine.DeadLetters;

/// <summary>What <c>sync dlq</c> read of one dead letter: its stage and reason, and where it came from.</summary>
public sealed record DeadLetterEntry(string Stage, string Reason, string? Topic, string Position);
