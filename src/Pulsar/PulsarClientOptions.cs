using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Sync.Pulsar;

/// <summary>Settings of a <see cref="PulsarClient"/>.</summary>
public sealed record PulsarClientOptions
{
    /// <summary>The cluster's service URL, <c>pulsar://host:6650</c> or <c>pulsar+ssl://host:6651</c>. Required.</summary>
    public required Uri ServiceUrl { get; init; }

    /// <summary>
    /// PEM file of the CA certificate(s) that sign the brokers' certificates; replaces the system
    /// trust store for broker connections. Default null (system trust store).
    /// </summary>
    public string? TlsTrustCertificatesFile { get; init; }

    /// <summary>PEM file of a client certificate, for brokers that authenticate clients by TLS. Default null.</summary>
    public string? TlsCertificateFile { get; init; }

    /// <summary>PEM file of the client certificate's private key (when not in the certificate file). Default null.</summary>
    public string? TlsKeyFile { get; init; }

    /// <summary>
    /// Check that the broker certificate names the host connected to. Default true (the Java
    /// client defaults to false; we prefer the safe choice).
    /// </summary>
    public bool TlsHostnameVerification { get; init; } = true;

    /// <summary>Accept any broker certificate. For tests only. Default false.</summary>
    public bool TlsAllowInsecureConnection { get; init; }

    internal bool UsesTls => ServiceUrl.Scheme == Internal.TlsConnector.Scheme;

    /// <summary>How long a request (lookup, subscribe, create producer, ack receipt) may wait for its answer. Default 30 s.</summary>
    public TimeSpan OperationTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Interval of the keep-alive check. Each tick sends PING; if the previous PING got no
    /// answer (and nothing else arrived) the connection is closed. Default 30 s, as in the Java client.
    /// </summary>
    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The clock the keep-alive ticks on. Default the system clock.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>
    /// An authentication token (JWT) sent with auth method "token"; none when null. Default null.
    /// </summary>
    public string? AuthenticationToken { get; init; }

    /// <summary>
    /// A file holding the token (JWT), read at every CONNECT and every AUTH_CHALLENGE so that a
    /// rotated token is picked up without a restart. Mutually exclusive with
    /// <see cref="AuthenticationToken"/>. Default null.
    /// </summary>
    public string? AuthenticationTokenFile { get; init; }

    /// <summary>The token to present now: from the file when one is configured.</summary>
    internal string? CurrentToken() =>
        AuthenticationTokenFile is { } file ? File.ReadAllText(file).Trim() : AuthenticationToken;

    /// <summary>Protocol version announced in CONNECT. Default 21 (the newest the broker speaks).</summary>
    public int ProtocolVersion { get; init; } = 21;

    /// <summary>Client version string announced in CONNECT. Default "sync-pulsar".</summary>
    public string ClientVersion { get; init; } = "sync-pulsar";

    /// <summary>First wait before re-creating a producer or consumer after a loss; doubles per failed attempt. Default 100 ms, as in the Java client.</summary>
    public TimeSpan RetryInitialDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Cap of the reconnect backoff. Default 60 s, as in the Java client.</summary>
    public TimeSpan RetryMaxDelay { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How many LOOKUP redirects are followed before giving up. Default 20.</summary>
    public int MaxLookupRedirects { get; init; } = 20;

    /// <summary>Logger factory for connection and consumer events. Default: no logging.</summary>
    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>
    /// Where received entries' bytes are rented from, for an application that gives each message's
    /// bytes back with <see cref="PulsarMessage.ReleaseBuffer"/> once it no longer reads them (an
    /// entry's array goes back when every message delivered from it was released). Default null: a
    /// new array per entry, left to the garbage collector. A message that is never released only
    /// keeps its array from coming back to the pool.
    /// </summary>
    public ArrayPool<byte>? EntryBufferPool { get; init; }

    /// <summary>Checks every setting and names the first one that is wrong.</summary>
    public void Validate()
    {
        if (ServiceUrl is null || (ServiceUrl.Scheme != "pulsar" && ServiceUrl.Scheme != Internal.TlsConnector.Scheme))
        {
            throw new ArgumentException($"serviceUrl ({ServiceUrl}) must be a pulsar:// or pulsar+ssl:// URL", nameof(ServiceUrl));
        }
        if (TlsKeyFile is not null && TlsCertificateFile is null)
        {
            throw new ArgumentException($"tlsKeyFile ({TlsKeyFile}) needs tlsCertificateFile", nameof(TlsKeyFile));
        }
        if (OperationTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"operationTimeout ({OperationTimeout}) must be positive", nameof(OperationTimeout));
        }
        if (KeepAliveInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException($"keepAliveInterval ({KeepAliveInterval}) must be positive", nameof(KeepAliveInterval));
        }
        if (AuthenticationToken is not null && AuthenticationTokenFile is not null)
        {
            throw new ArgumentException("set authenticationToken or authenticationTokenFile, not both", nameof(AuthenticationTokenFile));
        }
        if (RetryInitialDelay <= TimeSpan.Zero || RetryMaxDelay < RetryInitialDelay)
        {
            throw new ArgumentException(
                $"retryInitialDelay ({RetryInitialDelay}) must be positive and at most retryMaxDelay ({RetryMaxDelay})", nameof(RetryInitialDelay));
        }
        if (ProtocolVersion is < 6 or > 21)
        {
            // v6 introduced checksums, which we always send.
            throw new ArgumentException($"protocolVersion ({ProtocolVersion}) must be between 6 and 21", nameof(ProtocolVersion));
        }
    }
}
