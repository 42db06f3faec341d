namespace Sync.Sinks.Postgres;

/// <summary>How the sink protects its connection with TLS.</summary>
public enum PostgresTlsMode
{
    /// <summary>No TLS (a loopback or otherwise trusted network only).</summary>
    Disable,

    /// <summary>TLS without certificate validation: encrypted, but open to a man in the middle.</summary>
    Require,

    /// <summary>TLS; the server certificate must chain to a trusted root (the system store or <c>rootCertificate</c>).</summary>
    VerifyCa,

    /// <summary>TLS; the certificate must chain to a trusted root and name the host. The default.</summary>
    VerifyFull,
}
