using Sync.Testing.Tls;
using StreamPosition = Sync.Engine.Changes.StreamPosition;

namespace Sync.Sinks.Tests.Postgres;

/// <summary>
/// TLS against a PostgreSQL server the test starts with ssl=on and a certificate for
/// <c>localhost</c> signed by a CA made here: verification is on by default and a certificate it
/// cannot verify stops the sink with an error naming the sink and the certificate problem.
/// </summary>
/// <summary>One TLS server (and a second CA that did not sign its certificate) for all the tests.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PostgresTlsServer : IAsyncLifetime
{
    public TestCertificates Pki { get; private set; } = null!;

    public TestCertificates OtherCa { get; private set; } = null!;

    internal PostgresServerProcess Server { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Pki = TestCertificates.Create(["localhost"]);
        OtherCa = TestCertificates.Create(["localhost"], caName: "some other CA");
        Server = await PostgresServerProcess.StartAsync(Pki);
    }

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        Pki.Dispose();
        OtherCa.Dispose();
    }
}

[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class PostgresTlsTests(PostgresTlsServer tls) : IClassFixture<PostgresTlsServer>
{
    private const string CertificateRefused = "the TLS handshake failed, the server certificate was not accepted";

    private readonly TestCertificates _pki = tls.Pki;
    private readonly TestCertificates _otherCa = tls.OtherCa;
    private readonly PostgresServerProcess _server = tls.Server;

    private PostgresSinkOptions Options(string host, PostgresTlsMode tls, string? rootCertificate) => new()
    {
        ConnectionString = $"Host={host};Port={_server.Port};Username=postgres;Database=postgres",
        Tls = tls,
        RootCertificate = rootCertificate,
        Schema = "tls_test",
        StateSchema = "tls_test_sync",
        Retry = new RetryPolicy { MaxAttempts = 2, InitialDelay = TimeSpan.FromMilliseconds(10), MaxDelay = TimeSpan.FromMilliseconds(10) },
    };

    private static async Task<long> ApplyOneAsync(PostgresSinkOptions options)
    {
        await using var sink = await PostgresSink.OpenAsync("replica", options, CancellationToken.None);
        var result = await sink.ApplyAsync(
            new SinkBatch("m", new TargetSpec("users"), [Change.Create(("id", 1), 10, ("name", "ada"))], new Dictionary<string, StreamPosition>()),
            CancellationToken.None);
        return result.Upserted;
    }

    [Fact]
    public async Task Verify_full_with_the_servers_ca_connects_and_writes()
    {
        Assert.Equal(PostgresTlsMode.VerifyFull, new PostgresSinkOptions().Tls);

        Assert.Equal(1, await ApplyOneAsync(Options("localhost", PostgresTlsMode.VerifyFull, _pki.CaFile)));
    }

    [Fact]
    public async Task A_certificate_from_another_ca_is_refused_with_an_error_naming_the_sink_and_the_certificate()
    {
        var error = await Assert.ThrowsAnyAsync<SinkException>(() => ApplyOneAsync(Options("localhost", PostgresTlsMode.VerifyFull, _otherCa.CaFile)));

        Assert.Contains("postgres sink 'replica'", error.Message, StringComparison.Ordinal);
        Assert.Contains(CertificateRefused, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_certificate_for_another_host_name_is_refused_by_verify_full_and_accepted_by_verify_ca()
    {
        var error = await Assert.ThrowsAnyAsync<SinkException>(() => ApplyOneAsync(Options("127.0.0.1", PostgresTlsMode.VerifyFull, _pki.CaFile)));

        Assert.Contains("postgres sink 'replica'", error.Message, StringComparison.Ordinal);
        Assert.Contains(CertificateRefused, error.Message, StringComparison.Ordinal);
        Assert.Equal(1, await ApplyOneAsync(Options("127.0.0.1", PostgresTlsMode.VerifyCa, _pki.CaFile)));
    }

    [Fact]
    public async Task Turning_verification_off_takes_an_explicit_setting_that_is_reported_as_insecure()
    {
        var unverified = Options("localhost", PostgresTlsMode.Require, rootCertificate: null);

        Assert.Equal(1, await ApplyOneAsync(unverified));
        Assert.Equal(
            ["sinks.replica.tls is 'require': the connection is encrypted but the server certificate is not checked"],
            unverified.InsecureTransport("sinks.replica"));
        Assert.Empty(Options("localhost", PostgresTlsMode.VerifyFull, _pki.CaFile).InsecureTransport("sinks.replica"));
    }
}
