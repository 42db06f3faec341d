using Sync.Testing.Tls;

namespace Sync.Sinks.Tests.Elasticsearch;

/// <summary>
/// The sink over HTTPS: the Elasticsearch fake behind a TLS endpoint whose certificate was issued
/// by a CA made in the test, which the endpoint sends along with its certificate, as Elasticsearch
/// does with the HTTP CA its setup generates. caFingerprint pins that CA; another CA's fingerprint,
/// or the system trust store alone, is refused.
/// </summary>
public sealed class ElasticsearchTlsTests : IAsyncLifetime
{
    private readonly TestCertificates _pki = TestCertificates.Create(["localhost"], withIntermediate: true);
    private readonly TestCertificates _otherCa = TestCertificates.Create(["localhost"], caName: "some other CA");
    private FakeElasticsearch _fake = null!;
    private TlsTerminatingProxy _https = null!;

    public Task InitializeAsync()
    {
        _fake = FakeElasticsearch.Start(new FakeElasticsearchOptions { AnyHostHeader = true });
        _https = new TlsTerminatingProxy(_pki, _fake.Url);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _https.DisposeAsync();
        await _fake.DisposeAsync();
        _pki.Dispose();
        _otherCa.Dispose();
    }

    private ElasticsearchSinkOptions Options(string? caFingerprint, bool certificateValidation = true) => new()
    {
        Urls = [$"https://localhost:{_https.Port}"],
        CaFingerprint = caFingerprint,
        CertificateValidation = certificateValidation,
        Retry = new RetryPolicy { InitialDelay = TimeSpan.Zero, MaxDelay = TimeSpan.Zero, MaxAttempts = 2 },
        RequestTimeout = TimeSpan.FromSeconds(10),
    };

    [Fact]
    public async Task The_fingerprint_of_the_clusters_ca_lets_the_sink_connect_over_https()
    {
        await using var sink = await ElasticsearchSink.OpenAsync("search", Options(_pki.IssuerFingerprint), CancellationToken.None);

        Assert.Contains("sync-checkpoints", _fake.IndexNames);
    }

    [Fact]
    public async Task The_fingerprint_in_colon_separated_upper_case_form_works_too()
    {
        var colons = string.Join(':', Enumerable.Range(0, 32).Select(i => _pki.IssuerFingerprint.Substring(i * 2, 2).ToUpperInvariant()));

        await using var sink = await ElasticsearchSink.OpenAsync("search", Options(colons), CancellationToken.None);

        Assert.Contains("sync-checkpoints", _fake.IndexNames);
    }

    [Theory]
    [InlineData("another CA's fingerprint")]
    [InlineData("no fingerprint: the system trust store")]
    public async Task A_certificate_that_does_not_match_is_refused_with_an_error_naming_the_sink_and_the_certificate(string trust)
    {
        var options = Options(trust.StartsWith("another", StringComparison.Ordinal) ? _otherCa.IssuerFingerprint : null);

        var error = await Assert.ThrowsAnyAsync<SinkException>(async () => await ElasticsearchSink.OpenAsync("search", options, CancellationToken.None));

        Assert.Contains("'search'", error.Message, StringComparison.Ordinal);
        Assert.IsType<SinkFatalException>(error);
        Assert.Contains("the TLS handshake failed, the cluster's certificate was not accepted", error.Message, StringComparison.Ordinal);
        Assert.Empty(_fake.IndexNames);
    }

    [Fact]
    public async Task Turning_validation_off_takes_an_explicit_setting_that_is_reported_as_insecure()
    {
        var options = Options(caFingerprint: null, certificateValidation: false);

        await using var sink = await ElasticsearchSink.OpenAsync("search", options, CancellationToken.None);

        Assert.Contains("sync-checkpoints", _fake.IndexNames);
        Assert.Equal(["sinks.search.certificateValidation is false: any server certificate is accepted"], options.InsecureTransport("sinks.search"));
        Assert.Empty(Options(_pki.IssuerFingerprint).InsecureTransport("sinks.search"));
    }
}
