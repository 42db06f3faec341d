namespace Sync.Pulsar.Protocol;

/// <summary>One message inside a batch entry, with the fields of its metadata a consumer reads.</summary>
/// <param name="Index">Position in the batch; becomes the message id's batch_index.</param>
/// <param name="Fields">What a consumer reads of the message's SingleMessageMetadata.</param>
/// <param name="Metadata">The message's serialized SingleMessageMetadata.</param>
public readonly record struct BatchedMessage(int Index, SingleMessageFields Fields, ReadOnlyMemory<byte> Metadata, ReadOnlyMemory<byte> Payload);
