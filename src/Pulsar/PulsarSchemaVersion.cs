namespace Sync.Pulsar;

/// <summary>A schema with the version the broker stores it under (opaque bytes; for the default
/// storage an 8-byte big-endian long).</summary>
public sealed record PulsarSchemaVersion(PulsarSchema Schema, ReadOnlyMemory<byte> Version);
