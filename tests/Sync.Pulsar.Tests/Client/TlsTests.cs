using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Sync.Pulsar.Tests.Client;

/// <summary>pulsar+ssl:// with a private CA, host name checks and client certificates.</summary>
public sealed class TlsTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private readonly string _directory = Directory.CreateTempSubdirectory("sync-tls-").FullName;
    private readonly X509Certificate2 _ca;
    private readonly X509Certificate2 _server;
    private readonly X509Certificate2 _client;

    public TlsTests()
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=sync test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        _ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        _server = Issue("CN=127.0.0.1", san: true, serverAuth: true);
        _client = Issue("CN=sync client", san: false, serverAuth: false);
        File.WriteAllText(CaFile, _ca.ExportCertificatePem());
        File.WriteAllText(ClientCertFile, _client.ExportCertificatePem());
        File.WriteAllText(ClientKeyFile, _client.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem());
    }

    private string CaFile => Path.Combine(_directory, "ca.pem");

    private string ClientCertFile => Path.Combine(_directory, "client.pem");

    private string ClientKeyFile => Path.Combine(_directory, "client.key.pem");

    private X509Certificate2 Issue(string subject, bool san, bool serverAuth)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        if (san)
        {
            var names = new SubjectAlternativeNameBuilder();
            names.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(names.Build());
        }
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [serverAuth ? new Oid("1.3.6.1.5.5.7.3.1") : new Oid("1.3.6.1.5.5.7.3.2")], false));
        var serial = RandomNumberGenerator.GetBytes(8);
        using var issued = request.Create(_ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddHours(12), serial);
        var withKey = issued.CopyWithPrivateKey(key);
        // Round-trip through PKCS#12 so the key is usable by the platform TLS stack.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    public void Dispose()
    {
        _ca.Dispose();
        _server.Dispose();
        _client.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Messages_travel_over_TLS_with_a_private_CA()
    {
        await using var broker = FakePulsarBroker.Start(new FakePulsarBrokerOptions { TlsCertificate = _server });
        await using var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = broker.ServiceUrl, TlsTrustCertificatesFile = CaFile });
        await using var consumer = await client.SubscribeAsync(new ConsumerOptions { Topic = "tls", SubscriptionName = "s", InitialPosition = SubscriptionInitialPosition.Earliest });
        await using var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = "tls" });

        await producer.SendAsync(new OutgoingMessage { Data = "secret"u8.ToArray() });
        using var timeout = new CancellationTokenSource(Patience);
        var message = await consumer.ReceiveAsync(timeout.Token);

        Assert.Equal("pulsar+ssl", broker.ServiceUrl.Scheme);
        Assert.Equal("secret"u8.ToArray(), message.Data.ToArray());
    }

    [Fact]
    public async Task Broker_certificate_from_an_unknown_CA_is_refused()
    {
        await using var broker = FakePulsarBroker.Start(new FakePulsarBrokerOptions { TlsCertificate = _server });
        await using var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = broker.ServiceUrl });

        var error = await Assert.ThrowsAsync<ConnectionClosedException>(() => client.GetPartitionCountAsync("tls"));

        Assert.Contains("TLS handshake", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Broker_certificate_from_another_CA_than_the_configured_one_is_refused()
    {
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var otherRequest = new CertificateRequest("CN=sync other CA", otherKey, HashAlgorithmName.SHA256);
        otherRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var otherCa = otherRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var otherCaFile = Path.Combine(_directory, "other-ca.pem");
        File.WriteAllText(otherCaFile, otherCa.ExportCertificatePem());
        await using var broker = FakePulsarBroker.Start(new FakePulsarBrokerOptions { TlsCertificate = _server });
        await using var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = broker.ServiceUrl, TlsTrustCertificatesFile = otherCaFile });

        var error = await Assert.ThrowsAsync<ConnectionClosedException>(() => client.GetPartitionCountAsync("tls"));

        Assert.Contains("TLS handshake", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Host_name_mismatch_is_refused_unless_verification_is_off()
    {
        await using var broker = FakePulsarBroker.Start(new FakePulsarBrokerOptions { TlsCertificate = _server });
        var byName = new Uri($"pulsar+ssl://localhost:{broker.ServiceUrl.Port}");
        await using var strict = new PulsarClient(new PulsarClientOptions { ServiceUrl = byName, TlsTrustCertificatesFile = CaFile });
        await using var lenient = new PulsarClient(new PulsarClientOptions { ServiceUrl = byName, TlsTrustCertificatesFile = CaFile, TlsHostnameVerification = false });

        await Assert.ThrowsAsync<ConnectionClosedException>(() => strict.GetPartitionCountAsync("tls"));
        Assert.Equal(0, await lenient.GetPartitionCountAsync("tls"));
    }

    [Fact]
    public async Task Client_certificate_is_presented_when_the_broker_requires_one()
    {
        await using var broker = FakePulsarBroker.Start(new FakePulsarBrokerOptions { TlsCertificate = _server, TlsClientCertificateAuthority = _ca });
        await using var withCertificate = new PulsarClient(new PulsarClientOptions
        {
            ServiceUrl = broker.ServiceUrl,
            TlsTrustCertificatesFile = CaFile,
            TlsCertificateFile = ClientCertFile,
            TlsKeyFile = ClientKeyFile,
        });
        await using var without = new PulsarClient(new PulsarClientOptions { ServiceUrl = broker.ServiceUrl, TlsTrustCertificatesFile = CaFile, OperationTimeout = TimeSpan.FromSeconds(5) });

        Assert.Equal(0, await withCertificate.GetPartitionCountAsync("tls"));
        await Assert.ThrowsAnyAsync<PulsarException>(() => without.GetPartitionCountAsync("tls"));
    }
}
