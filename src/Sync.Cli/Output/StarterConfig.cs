namespace Sync.Cli.Output;

/// <summary>The commented starter configs of <c>sync init</c>: one block per source type and per sink
/// type, put together with a materializer that joins them. Each combination passes
/// <c>sync validate</c> as written (InitCommandTests), and names only keys of the schema.</summary>
internal static class StarterConfig
{
    public const string SchemaFile = "sync-config.schema.json";

    private static readonly Dictionary<string, (string Name, string Block)> Sources = new(StringComparer.Ordinal)
    {
        ["file"] = ("changelog", """
              changelog:
                type: file
                path: data/changelog.jsonl      # JSON Lines, one Pulsar message per line (see the README)
                # follow: true                  # keep reading as the file grows, like tail -f
            """),
        ["pulsar"] = ("broker", """
              broker:
                type: pulsar
                serviceUrl: pulsar://localhost:6650   # pulsar+ssl://host:6651 for TLS
                adminUrl: http://localhost:8080       # the admin API: sync check, erase, status and dump use it
                # token: ${PULSAR_TOKEN}              # or tokenFile: path/to/token (read again at every connect)
                # subscriptionType: key-shared        # to share the work among several sync run processes
                # keyValueEncoding: auto              # how Pulsar IO's KeyValue messages are read
            """),
    };

    private static readonly Dictionary<string, (string Name, string Block)> Sinks = new(StringComparer.Ordinal)
    {
        ["postgres"] = ("warehouse", """
              warehouse:
                type: postgres
                connectionString: "Host=localhost;Port=5432;Database=app;Username=sync"
                # password: ${PGPASSWORD}       # never printed
                tls: verify-full                # disable only on a trusted network; rootCertificate: ca.pem for a private CA
                # schema: public                # where the target tables go (created when absent)
            """),
        ["redis"] = ("cache", """
              cache:
                type: redis
                endpoints: [localhost:6379]
                # user: sync                    # an ACL user
                # password: ${REDIS_PASSWORD}
                keyPrefix: "sync:"              # the sink's own keys (versions, checkpoints) start with it
                # allowEviction: false          # sync check wants maxmemory-policy noeviction unless this is true
            """),
        ["sqlite"] = ("local", """
              local:
                type: sqlite
                path: sync.db                   # created when absent
            """),
        ["elasticsearch"] = ("search", """
              search:
                type: elasticsearch
                urls: [http://localhost:9200]
                # apiKey: ${ES_API_KEY}         # or username and password
            """),
    };

    public static IReadOnlyCollection<string> SourceTypes => Sources.Keys;

    public static IReadOnlyCollection<string> SinkTypes => Sinks.Keys;

    public static string Render(string sourceType, string sinkType)
    {
        var (source, sourceBlock) = Sources[sourceType];
        var (sink, sinkBlock) = Sinks[sinkType];
        return $$"""
            # yaml-language-server: $schema={{SchemaFile}}
            # A starter config from `sync init --source {{sourceType}} --sink {{sinkType}}`. Next steps:
            #   sync validate --config THIS_FILE   checks it without connecting
            #   sync check --config THIS_FILE      connects to the source and the sink and reports what to fix
            #   sync run --config THIS_FILE        keeps the sink in step with the source
            # Every key, its default and an example: docs/configuration.md. Relative paths start at this file's folder.

            sources:
            {{sourceBlock}}

            sinks:
            {{sinkBlock}}

            materializers:
              # One materializer per table: a source's topics, decoded, written into one sink target.
              customers:
                source: {{source}}
                topics: [persistent://public/default/db1.public.customers]
                # topicPattern: 'persistent://public/default/db1\.public\..*'   # instead of topics
                format: debezium-json           # or json: plain rows, upsert by key
                sink: {{sink}}
                table: customers                # the table, key prefix or index in the sink
                # batchSize: 1000

            # For sync erase (GDPR art. 17): which materializers carry a data subject, and by which column.
            # subjects:
            #   customer:
            #     customers: { key: id }
            # erasure:
            #   secret: ${SYNC_ERASURE_SECRET}  # at least 16 characters

            """;
    }
}
