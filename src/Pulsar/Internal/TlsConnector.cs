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
        var authentication = new SslClientAuthenticationOptions
        {
            TargetHost = brokerUrl.Host,
            RemoteCertificateValidationCallback = (_, certificate, _, errors) => Validate(certificate, errors, options),
        };
        if (options.TlsTrustCertificatesFile is { } caFile)
        {
            // A custom CA replaces the system store: SslStream builds the broker's chain with this
            // policy, so a chain that does not end at one of its certificates reports a chain error.
            var policy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            policy.CustomTrustStore.AddRange(LoadCertificates(caFile));
            authentication.CertificateChainPolicy = policy;
        }
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

    private static bool Validate(X509Certificate? certificate, SslPolicyErrors errors, PulsarClientOptions options)
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
        // The chain was built against the custom CA when one is given, else against the system store.
        return errors == SslPolicyErrors.None;
    }
}
