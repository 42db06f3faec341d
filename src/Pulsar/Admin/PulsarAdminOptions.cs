namespace Sync.Pulsar.Admin;

/// <summary>Settings of a <see cref="PulsarAdminClient"/>.</summary>
public sealed record PulsarAdminOptions
{
    /// <summary>The admin (web service) URL, <c>http://host:8080</c>. Required.</summary>
    public required Uri ServiceUrl { get; init; }

    /// <summary>A JWT sent as <c>Authorization: Bearer</c>; none when null. Default null.</summary>
    public string? AuthenticationToken { get; init; }

    /// <summary>Timeout of one admin request. Default 30 s.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public void Validate()
    {
        if (ServiceUrl is null || (ServiceUrl.Scheme != Uri.UriSchemeHttp && ServiceUrl.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"serviceUrl ({ServiceUrl}) must be an http:// or https:// URL", nameof(ServiceUrl));
        }
        if (RequestTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"requestTimeout ({RequestTimeout}) must be positive", nameof(RequestTimeout));
        }
    }
}
