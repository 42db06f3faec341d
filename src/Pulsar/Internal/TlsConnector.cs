using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Sync.Pulsar.Internal;

/// <summary>Wraps a broker socket in TLS for <c>pulsar+ssl://</c> URLs.</summary>
internal static class TlsConnector
{
    public const string Scheme = "pulsar+ssl";

    public static async Task<Stream> AuthenticateAsync(Stream network, Uri brokerUrl, PulsarClientOptions options, CancellationToken cancellationToken)
    {
        var ssl = new SslStream(network, leaveInnerStreamOpen: false);
        var trusted = options.TlsTrustCertificatesFile is { } caFile ? LoadCertificates(caFile) : null;
        var authentication = new SslClientAuthenticationOptions
        {
            TargetHost = brokerUrl.Host,
            RemoteCertificateValidationCallback = (_, certificate, chain, errors) => Validate(certificate, errors, trusted, options),
        };
        if (options.TlsCertificateFile is { } certificateFile)
        {
            // A client certificate for brokers that authenticate clients by TLS (mTLS).
            var clientCertificate = X509Certificate2.CreateFromPemFile(certificateFile, options.TlsKeyFile);
            authentication.ClientCertificates = [clientCertificate];
        }
        try
        {
            await ssl.AuthenticateAsClientAsync(authentication, cancellationToken);
        }
        catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException)
        {
            await ssl.DisposeAsync();
            throw new ConnectionClosedException($"TLS handshake with {brokerUrl} failed: {e.Message}", e);
        }
        return ssl;
    }

    private static X509Certificate2Collection LoadCertificates(string pemFile)
    {
        var collection = new X509Certificate2Collection();
        collection.ImportFromPemFile(pemFile);
        return collection;
    }

    private static bool Validate(X509Certificate? certificate, SslPolicyErrors errors, X509Certificate2Collection? trusted, PulsarClientOptions options)
    {
        if (options.TlsAllowInsecureConnection)
        {
            return true;
        }
        if (certificate is null)
        {
            return false;
        }
        if (!options.TlsHostnameVerification)
        {
            errors &= ~SslPolicyErrors.RemoteCertificateNameMismatch;
        }
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return false;
        }
        if (trusted is null)
        {
            // No custom CA: the system trust store decides.
            return (errors & SslPolicyErrors.RemoteCertificateChainErrors) == 0;
        }
        // A custom CA replaces the system store: the chain must end at one of its certificates.
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(trusted);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        using var server = new X509Certificate2(certificate);
        return chain.Build(server);
    }
}
