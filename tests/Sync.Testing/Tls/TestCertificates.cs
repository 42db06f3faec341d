using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Sync.Testing.Tls;

/// <summary>
/// A private CA made for one test and a server certificate it signed, as PEM files in a folder:
/// what an operator hands to a server (certificate and key) and to sync (the CA file).
/// </summary>
public sealed class TestCertificates : IDisposable
{
    private TestCertificates(string directory, X509Certificate2 ca, X509Certificate2? intermediate, X509Certificate2 server)
    {
        Directory = directory;
        CaCertificate = ca;
        IntermediateCertificate = intermediate;
        ServerCertificate = server;
    }

    /// <summary>The CA below the root that issued the server certificate, when one was asked for.</summary>
    public X509Certificate2? IntermediateCertificate { get; }

    /// <summary>The CA that signed the server certificate: the intermediate when there is one, else the root.</summary>
    public X509Certificate2 IssuerCertificate => IntermediateCertificate ?? CaCertificate;

    /// <summary>SHA-256 of the issuing CA certificate's DER bytes, as lowercase hex.</summary>
    public string IssuerFingerprint => Convert.ToHexStringLower(SHA256.HashData(IssuerCertificate.RawData));

    public string Directory { get; }

    public string CaFile => Path.Combine(Directory, "ca.pem");

    public string CertificateFile => Path.Combine(Directory, "server.crt");

    public string KeyFile => Path.Combine(Directory, "server.key");

    public X509Certificate2 CaCertificate { get; }

    /// <summary>The server certificate with its private key (for an in-process TLS server).</summary>
    public X509Certificate2 ServerCertificate { get; }

    /// <summary>SHA-256 of the CA certificate's DER bytes, as lowercase hex.</summary>
    public string CaFingerprint => Convert.ToHexStringLower(SHA256.HashData(CaCertificate.RawData));

    /// <summary>Makes a CA and a server certificate for <paramref name="dnsNames"/> and <paramref name="addresses"/>.</summary>
    /// <param name="withIntermediate">Sign the server certificate with an intermediate CA (which a
    /// TLS server sends along; SslStream never sends the self-signed root).</param>
    public static TestCertificates Create(string[] dnsNames, IPAddress[]? addresses = null, string caName = "sync test CA", bool withIntermediate = false)
    {
        var directory = System.IO.Directory.CreateTempSubdirectory("sync-pki-").FullName;
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest($"CN={caName}", caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(3));
        X509Certificate2? intermediate = null;
        if (withIntermediate)
        {
            using var intermediateKey = RSA.Create(2048);
            var intermediateRequest = new CertificateRequest($"CN={caName} issuing", intermediateKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            intermediateRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
            intermediateRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            intermediateRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(intermediateRequest.PublicKey, false));
            intermediateRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
            using var signedIntermediate = intermediateRequest.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(2), RandomNumberGenerator.GetBytes(8));
            intermediate = signedIntermediate.CopyWithPrivateKey(intermediateKey);
        }
        var issuer = intermediate ?? ca;

        using var serverKey = RSA.Create(2048);
        var request = new CertificateRequest($"CN={dnsNames.FirstOrDefault() ?? "server"}", serverKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        foreach (var name in dnsNames)
        {
            names.AddDnsName(name);
        }
        foreach (var address in addresses ?? [])
        {
            names.AddIpAddress(address);
        }
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        using var signed = request.Create(issuer, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1), RandomNumberGenerator.GetBytes(8));
        var server = signed.CopyWithPrivateKey(serverKey);

        var pki = new TestCertificates(directory, ca, intermediate, server);
        File.WriteAllText(pki.CaFile, ca.ExportCertificatePem());
        File.WriteAllText(pki.CertificateFile, server.ExportCertificatePem());
        File.WriteAllText(pki.KeyFile, serverKey.ExportPkcs8PrivateKeyPem());
        if (!OperatingSystem.IsWindows())
        {
            // PostgreSQL refuses a key file that others can read.
            File.SetUnixFileMode(pki.KeyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        return pki;
    }

    public void Dispose()
    {
        CaCertificate.Dispose();
        IntermediateCertificate?.Dispose();
        ServerCertificate.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
