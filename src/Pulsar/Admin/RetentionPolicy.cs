using System.Text.Json.Serialization;

namespace Sync.Pulsar.Admin;

/// <summary>A retention policy: -1 means unlimited, 0 means none.</summary>
public sealed record RetentionPolicy(
    [property: JsonPropertyName("retentionTimeInMinutes")] int RetentionTimeInMinutes,
    [property: JsonPropertyName("retentionSizeInMB")] long RetentionSizeInMB);
