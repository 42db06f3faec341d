namespace Sync.Engine.Sinks;

/// <summary>A sink did not write a batch's checkpoint because the checkpoint it holds is behind the
/// one the materializer read just before the batch (<see cref="SinkBatch.ExpectedCheckpoint"/>):
/// between the read and the write the sink went back in time (restarted from an older snapshot,
/// restored, failed over), or another process of a shared subscription wrote it from an older
/// observation. The batch's rows
/// may be written (every write is version-checked, so writing them again is harmless); the
/// materializer reads the checkpoint again and tries the batch once more.</summary>
public sealed class SinkCheckpointChangedException : Exception
{
    public SinkCheckpointChangedException()
    {
    }

    /// <param name="materializer">Whose checkpoint changed.</param>
    public SinkCheckpointChangedException(string materializer)
        : base($"the checkpoint of '{materializer}' went back between reading it and writing the next one; the batch's checkpoint was not written")
    {
    }

    public SinkCheckpointChangedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
