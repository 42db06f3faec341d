namespace Sync.Cli.Tests;

/// <summary>Certificate checks are on by default; turning one off (or encryption, for PostgreSQL)
/// is allowed, and every start of a run says so loudly, naming the field.</summary>
public sealed class InsecureTransportWarningTests : WorkspaceTests
{
    [Fact]
    public async Task Each_setting_that_turns_a_certificate_check_off_is_a_warning_naming_the_field()
    {
        var config = Workspace.Write("insecure.yaml", """
            sources:
              changelog: { type: file, path: examples/data/changelog.jsonl }
              broker: { type: pulsar, serviceUrl: 'pulsar+ssl://127.0.0.1:1', tlsAllowInsecureConnection: true, tlsHostnameVerification: false }
            sinks:
              pg: { type: postgres, connectionString: 'Host=127.0.0.1;Port=1;Username=sync', tls: require, connectTimeout: 1s, retry: { maxAttempts: 1 } }
              plain: { type: postgres, connectionString: 'Host=127.0.0.1;Port=1;Username=sync', tls: disable, connectTimeout: 1s, retry: { maxAttempts: 1 } }
              cache: { type: redis, endpoints: ['127.0.0.1:1'], tls: { enabled: true, verifyCertificate: false }, connectTimeout: 500ms, retry: { maxAttempts: 1 } }
              search: { type: elasticsearch, urls: ['https://127.0.0.1:1'], certificateValidation: false, requestTimeout: 1s, retry: { maxAttempts: 1 } }
            materializers:
              to_pg: { source: changelog, topics: [persistent://public/default/db1.public.customers], sink: pg, table: customers }
              to_cache: { source: changelog, topics: [persistent://public/default/db1.public.customers], sink: cache, table: customers }
              to_search: { source: changelog, topics: [persistent://public/default/db1.public.customers], sink: search, table: customers }
              from_broker: { source: broker, topics: [persistent://public/default/customers], sink: pg, table: customers_copy }
            """);

        var run = await Workspace.Sync("run", "--config", config);

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("sources.broker.tlsAllowInsecureConnection is true: the broker certificate is not checked", run.Error, StringComparison.Ordinal);
        Assert.Contains("sources.broker.tlsHostnameVerification is false: the broker certificate may name another host", run.Error, StringComparison.Ordinal);
        Assert.Contains("sinks.pg.tls is 'require': the connection is encrypted but the server certificate is not checked", run.Error, StringComparison.Ordinal);
        Assert.Contains("sinks.plain.tls is 'disable': the connection is not encrypted", run.Error, StringComparison.Ordinal);
        Assert.Contains("sinks.cache.tls.verifyCertificate is false: the server certificate is not checked", run.Error, StringComparison.Ordinal);
        Assert.Contains("sinks.search.certificateValidation is false: any server certificate is accepted", run.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Default_settings_verify_certificates_and_warn_about_nothing()
    {
        var config = Workspace.Write("default.yaml", """
            sources:
              changelog: { type: file, path: examples/data/changelog.jsonl }
            sinks:
              pg: { type: postgres, connectionString: 'Host=127.0.0.1;Port=1;Username=sync', connectTimeout: 1s, retry: { maxAttempts: 1 } }
            materializers:
              to_pg: { source: changelog, topics: [persistent://public/default/db1.public.customers], sink: pg, table: customers }
            """);

        var run = await Workspace.Sync("run", "--config", config);

        Assert.Equal(1, run.ExitCode);
        Assert.DoesNotContain("Insecure transport", run.Error + run.Output, StringComparison.Ordinal);
    }
}
