namespace Sync.Pulsar.Protocol;

/// <summary>One message inside a batch entry.</summary>
/// <param name="Index">Position in the batch; becomes the message id's batch_index.</param>
public readonly record struct BatchItem(int Index, SingleMessageMetadata Metadata, ReadOnlyMemory<byte> Payload);
