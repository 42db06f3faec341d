using System.Buffers.Binary;

namespace Sync.Engine.Sources;

/// <summary>An INLINE KeyValue message exactly as it travelled: the payload and the message key.</summary>
public sealed record InlineKeyValue(ReadOnlyMemory<byte> Payload, MessageKey MessageKey);
