using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Sync.Sources.Pulsar;
using Sync.Pulsar;
using Sync.Testing.Pulsar;

namespace Sync.Engine.Tests.Sources.Pulsar;

/// <summary>The source's TLS and token settings reach the connection: pulsar+ssl:// with a private
/// CA and a token read from a file.</summary>
public sealed class PulsarSourceSecurityTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private readonly string _directory = Directory.CreateTempSubdirectory("sync-pulsar-tls-").FullName;
    private readonly X509Certificate2 _ca;
    private readonly X509Certificate2 _server;

    public PulsarSourceSecurityTests()
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=sync source test CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        _ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var issued = request.Create(_ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddHours(12), RandomNumberGenerator.GetBytes(8));
        using var withKey = issued.CopyWithPrivateKey(key);
        _server = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        File.WriteAllText(CaFile, _ca.ExportCertificatePem());
        File.WriteAllText(TokenFile, "source-token\n");
    }

    private string CaFile => Path.Combine(_directory, "ca.pem");

    private string TokenFile => Path.Combine(_directory, "token");

    public void Dispose()
    {
        _ca.Dispose();
        _server.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task A_source_reads_over_TLS_with_its_CA_file_and_a_token_file_and_fails_clearly_without_them()
    {
        await using var broker = FakePulsarBroker.Start(new FakePulsarBrokerOptions { TlsCertificate = _server, RequiredToken = "source-token" });
        const string topic = "persistent://public/default/secured";
        await using (var client = new PulsarClient(new PulsarClientOptions { ServiceUrl = broker.ServiceUrl, TlsTrustCertificatesFile = CaFile, AuthenticationToken = "source-token" }))
        await using (var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = topic }))
        {
            await producer.SendAsync(new OutgoingMessage { Key = "k", Data = "{}"u8.ToArray() });
        }

        var request = new SourceReadRequest("secured", _ => true, new Dictionary<string, StreamPosition>(), false) { Topics = [topic] };
        var options = new PulsarSourceOptions { ServiceUrl = broker.ServiceUrl.ToString(), TlsTrustCertsFile = CaFile, TokenFile = TokenFile };
        Assert.Empty(options.Validate("sources.broker"));
        using var timeout = new CancellationTokenSource(Patience);
        await using (var reader = new PulsarSourceReader("broker", options, request))
        {
            var message = Assert.Single((await reader.ReadBatchAsync(10, TimeSpan.FromMilliseconds(20), timeout.Token))!).Message!;
            Assert.Equal(new MessageKey("k", false), message.Key);
        }

        var untrusted = new PulsarSourceOptions { ServiceUrl = broker.ServiceUrl.ToString(), TokenFile = TokenFile };
        await using (var reader = new PulsarSourceReader("broker", untrusted, request))
        {
            var error = await Assert.ThrowsAsync<SourceException>(async () => await reader.ReadBatchAsync(10, TimeSpan.FromMilliseconds(20), timeout.Token));
            Assert.Contains("TLS handshake", error.Message, StringComparison.Ordinal);
        }

        var wrongToken = new PulsarSourceOptions { ServiceUrl = broker.ServiceUrl.ToString(), TlsTrustCertsFile = CaFile, Token = "other-token" };
        await using (var reader = new PulsarSourceReader("broker", wrongToken, request))
        {
            var error = await Assert.ThrowsAsync<SourceException>(async () => await reader.ReadBatchAsync(10, TimeSpan.FromMilliseconds(20), timeout.Token));
            Assert.StartsWith("source broker: subscribing sync-secured for secured failed:", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("other-token", error.Message, StringComparison.Ordinal);
        }
    }
}
