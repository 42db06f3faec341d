namespace Sync.Engine.Sources;

/// <summary>A message, or a record of the source that could not be read as a message (a malformed
/// changelog line), which goes to the dead-letter target.</summary>
public readonly record struct SourceRecord(SourceMessage? Message, SourceError? Error);
