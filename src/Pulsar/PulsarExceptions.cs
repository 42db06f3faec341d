namespace Sync.Pulsar;

/// <summary>Base of every failure Sync.Pulsar reports; catch this to handle them all.</summary>
public abstract class PulsarException : Exception
{
    protected PulsarException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

/// <summary>The peer sent bytes that do not form a valid Pulsar frame, batch or metadata.</summary>
public class PulsarProtocolException : PulsarException
{
    public PulsarProtocolException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

/// <summary>A frame announced a size above the negotiated maximum; the connection cannot continue.</summary>
public sealed class FrameTooLargeException(long frameSize, int maxFrameSize)
    : PulsarProtocolException($"frame of {frameSize} bytes exceeds the maximum frame size of {maxFrameSize} bytes")
{
    public long FrameSize { get; } = frameSize;

    public int MaxFrameSize { get; } = maxFrameSize;
}

/// <summary>A message's CRC-32C did not match its metadata and payload.</summary>
public sealed class ChecksumMismatchException(uint expected, uint actual)
    : PulsarProtocolException($"message checksum mismatch: frame says 0x{expected:X8}, content hashes to 0x{actual:X8}")
{
    public uint Expected { get; } = expected;

    public uint Actual { get; } = actual;
}

/// <summary>A compressed payload could not be decompressed to its announced uncompressed size.</summary>
public sealed class DecompressionException(CompressionType compression, string reason, Exception? innerException = null)
    : PulsarProtocolException($"{compression} payload could not be decompressed: {reason}", innerException)
{
    public CompressionType Compression { get; } = compression;
}

/// <summary>The TCP connection to the broker failed or was closed while an operation needed it.</summary>
public sealed class ConnectionClosedException : PulsarException
{
    public ConnectionClosedException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}

/// <summary>The broker did not answer a request within the operation timeout.</summary>
public sealed class PulsarTimeoutException : PulsarException
{
    public PulsarTimeoutException(string operation, TimeSpan timeout)
        : base($"{operation} got no answer from the broker within {timeout.TotalSeconds:0.###} s")
    {
    }
}

/// <summary>An operation was attempted on a producer or consumer that has been disposed or closed.</summary>
public sealed class PulsarObjectClosedException : PulsarException
{
    public PulsarObjectClosedException(string what)
        : base($"{what} is closed")
    {
    }
}

/// <summary>
/// The broker answered a request with a <see cref="ServerError"/>. Each error code that a caller
/// may want to handle on its own has a subclass; <see cref="Create"/> picks it.
/// </summary>
public class PulsarServerException : PulsarException
{
    public PulsarServerException(ServerError error, string message)
        : base($"broker error {error}: {message}")
    {
        Error = error;
        ServerMessage = message;
    }

    /// <summary>The error code as the broker sent it.</summary>
    public ServerError Error { get; }

    /// <summary>The broker's human-readable explanation.</summary>
    public string ServerMessage { get; }

    /// <summary>Maps a broker error to the most specific exception type.</summary>
    public static PulsarServerException Create(ServerError error, string message) => error switch
    {
        ServerError.AuthenticationError => new AuthenticationException(message),
        ServerError.AuthorizationError => new AuthorizationException(message),
        ServerError.TopicNotFound => new TopicNotFoundException(message),
        ServerError.SubscriptionNotFound => new SubscriptionNotFoundException(message),
        ServerError.ConsumerBusy => new ConsumerBusyException(message),
        ServerError.ProducerBusy => new ProducerBusyException(message),
        ServerError.ServiceNotReady => new ServiceNotReadyException(message),
        ServerError.TooManyRequests => new TooManyRequestsException(message),
        ServerError.TopicTerminatedError => new TopicTerminatedException(message),
        ServerError.NotAllowedError => new NotAllowedException(message),
        ServerError.ChecksumError => new ServerChecksumException(message),
        ServerError.InvalidTopicName => new InvalidTopicNameException(message),
        ServerError.ProducerFenced => new ProducerFencedException(message),
        ServerError.IncompatibleSchema => new IncompatibleSchemaException(message),
        ServerError.ConsumerAssignError => new ConsumerAssignException(message),
        _ => new PulsarServerException(error, message),
    };
}

/// <summary>A Key_Shared consumer's hash ranges could not be assigned (e.g. they overlap another consumer's sticky ranges).</summary>
public sealed class ConsumerAssignException(string message) : PulsarServerException(ServerError.ConsumerAssignError, message);

public sealed class AuthenticationException(string message) : PulsarServerException(ServerError.AuthenticationError, message);

public sealed class AuthorizationException(string message) : PulsarServerException(ServerError.AuthorizationError, message);

public sealed class TopicNotFoundException(string message) : PulsarServerException(ServerError.TopicNotFound, message);

public sealed class SubscriptionNotFoundException(string message) : PulsarServerException(ServerError.SubscriptionNotFound, message);

public sealed class ConsumerBusyException(string message) : PulsarServerException(ServerError.ConsumerBusy, message);

public sealed class ProducerBusyException(string message) : PulsarServerException(ServerError.ProducerBusy, message);

/// <summary>Retriable: the broker asks for a fresh lookup (topic moving, broker starting).</summary>
public sealed class ServiceNotReadyException(string message) : PulsarServerException(ServerError.ServiceNotReady, message);

public sealed class TooManyRequestsException(string message) : PulsarServerException(ServerError.TooManyRequests, message);

public sealed class TopicTerminatedException(string message) : PulsarServerException(ServerError.TopicTerminatedError, message);

public sealed class NotAllowedException(string message) : PulsarServerException(ServerError.NotAllowedError, message);

/// <summary>The broker found our message checksum wrong (SEND_ERROR ChecksumError).</summary>
public sealed class ServerChecksumException(string message) : PulsarServerException(ServerError.ChecksumError, message);

public sealed class InvalidTopicNameException(string message) : PulsarServerException(ServerError.InvalidTopicName, message);

public sealed class ProducerFencedException(string message) : PulsarServerException(ServerError.ProducerFenced, message);

/// <summary>The topic's schemas do not admit this one under the namespace's compatibility strategy.</summary>
public sealed class IncompatibleSchemaException(string message) : PulsarServerException(ServerError.IncompatibleSchema, message);
