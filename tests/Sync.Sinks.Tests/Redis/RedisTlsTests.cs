using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using StreamPosition = Sync.Engine.Changes.StreamPosition;

namespace Sync.Sinks.Tests.Redis;

/// <summary>TLS against a redis-server the test starts with a certificate signed by a CA made here.</summary>
public sealed class RedisTlsTests
{
    [Fact]
    public async Task Tls_with_the_configured_ca_connects_and_an_untrusted_certificate_is_refused_by_default()
    {
        var pki = Path.Combine(Path.GetTempPath(), "sync-redis-tls-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(pki);
        try
        {
            var (caFile, certFile, keyFile) = MakeCertificates(pki, serverName: "localhost");
            await using var server = await RedisServerProcess.StartTlsAsync(
                "--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", caFile, "--tls-auth-clients", "no");
            var endpoint = $"localhost:{server.TlsPort}";

            var trusted = new RedisSinkOptions { Endpoints = [endpoint], Tls = new RedisTlsOptions { Enabled = true, CaFile = caFile } };
            await using (var sink = await RedisSink.OpenAsync("cache", trusted, CancellationToken.None))
            {
                var target = new TargetSpec("users");
                var result = await sink.ApplyAsync(new SinkBatch("m", target, [Change.Create(("id", 1), 10, ("name", "a"))], new Dictionary<string, StreamPosition>()), CancellationToken.None);
                Assert.Equal(1, result.Upserted);
            }

            var systemTrust = new RedisSinkOptions
            {
                Endpoints = [endpoint],
                Tls = new RedisTlsOptions { Enabled = true },
                ConnectTimeout = TimeSpan.FromMilliseconds(500),
                Retry = new RetryPolicy { MaxAttempts = 2, InitialDelay = TimeSpan.FromMilliseconds(10), MaxDelay = TimeSpan.FromMilliseconds(10) },
            };
            await Assert.ThrowsAnyAsync<SinkException>(async () => await RedisSink.OpenAsync("cache", systemTrust, CancellationToken.None));

            var wrongName = new RedisSinkOptions
            {
                Endpoints = [endpoint],
                Tls = new RedisTlsOptions { Enabled = true, CaFile = caFile, ServerName = "redis.elsewhere" },
                ConnectTimeout = TimeSpan.FromMilliseconds(500),
                Retry = systemTrust.Retry,
            };
            await Assert.ThrowsAnyAsync<SinkException>(async () => await RedisSink.OpenAsync("cache", wrongName, CancellationToken.None));
        }
        finally
        {
            Directory.Delete(pki, recursive: true);
        }
    }

    private static (string Ca, string Cert, string Key) MakeCertificates(string directory, string serverName)
    {
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest("CN=sync test CA", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));

        using var serverKey = RSA.Create(2048);
        var request = new CertificateRequest($"CN={serverName}", serverKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(serverName);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var certificate = request.Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddHours(12), [1, 2, 3, 4]);

        var caFile = Path.Combine(directory, "ca.pem");
        var certFile = Path.Combine(directory, "server.pem");
        var keyFile = Path.Combine(directory, "server.key");
        File.WriteAllText(caFile, ca.ExportCertificatePem());
        File.WriteAllText(certFile, certificate.ExportCertificatePem());
        File.WriteAllText(keyFile, serverKey.ExportPkcs8PrivateKeyPem());
        return (caFile, certFile, keyFile);
    }
}
