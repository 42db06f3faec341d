using System.Net;

namespace Sync.Pulsar.Admin;

/// <summary>The admin API refused a request; <see cref="Reason"/> is the broker's own explanation.</summary>
public sealed class PulsarAdminException(HttpStatusCode statusCode, string operation, string reason)
    : PulsarException($"{operation} failed with HTTP {(int)statusCode}: {reason}")
{
    public HttpStatusCode StatusCode { get; } = statusCode;

    public string Reason { get; } = reason;
}
