using Microsoft.Data.Sqlite;
using YamlDotNet.RepresentationModel;

namespace Sync.Sinks.Tests.Sqlite;

public sealed class SqliteSinkOptionsTests
{
    [Fact]
    public void Defaults_are_valid_once_a_path_is_set()
    {
        var options = new SqliteSinkOptions { Path = "quickstart.db" };

        Assert.Empty(options.Validate("sinks.local"));
        Assert.Equal(TimeSpan.FromSeconds(5), options.BusyTimeout);
        Assert.Equal(TimeSpan.FromDays(7), options.DeleteMarkerRetention);
        Assert.Equal(8, options.Retry.MaxAttempts);
    }

    [Fact]
    public void Validation_names_every_field_path_and_value_at_once()
    {
        var options = new SqliteSinkOptions
        {
            Path = "",
            BusyTimeout = TimeSpan.FromSeconds(-1),
            DeleteMarkerRetention = TimeSpan.Zero,
            Retry = new RetryPolicy { MaxAttempts = 0 },
        };

        Assert.Equal(
            [
                "sinks.local.path (empty) must be a file path",
                "sinks.local.busyTimeout (-1s) must be between 0ms and 1h",
                "sinks.local.deleteMarkerRetention (0ms) must be positive",
                "sinks.local.retry.maxAttempts (0) must be between 1 and 1000",
            ],
            options.Validate("sinks.local"));
    }

    [Fact]
    public void Options_bind_from_the_config_with_durations_and_a_nested_retry_policy()
    {
        var (options, problems) = Bind("local: { type: sqlite, path: data/q.db, busyTimeout: 250ms, deleteMarkerRetention: 30d, retry: { maxAttempts: 3, maxDelay: 1s } }");

        Assert.Empty(problems);
        Assert.Equal(Path.GetFullPath("data/q.db", "/etc/sync"), options.Path);
        Assert.Equal(TimeSpan.FromMilliseconds(250), options.BusyTimeout);
        Assert.Equal(TimeSpan.FromDays(30), options.DeleteMarkerRetention);
        Assert.Equal(new RetryPolicy { MaxAttempts = 3, MaxDelay = TimeSpan.FromSeconds(1) }, options.Retry);
    }

    [Fact]
    public void Config_problems_name_the_line_the_field_and_the_value()
    {
        var (_, problems) = Bind("local:\n  type: sqlite\n  busyTimeout: -1s\n  retry: { maxAttempts: 0 }\n  colour: blue\n");

        Assert.Equal(
            [
                "sync.yaml:5: sinks.local.colour is not a known key (known: busyTimeout, deleteMarkerRetention, path, retry, type)",
                "sync.yaml:2: sinks.local.path is required",
                "sync.yaml:2: sinks.local.path (empty) must be a file path",
                "sync.yaml:3: sinks.local.busyTimeout (-1s) must be between 0ms and 1h",
                "sync.yaml:4: sinks.local.retry.maxAttempts (0) must be between 1 and 1000",
            ],
            problems.Select(p => p.ToString()));
    }

    private static (SqliteSinkOptions Options, List<ConfigProblem> Problems) Bind(string yaml) =>
        OptionsYaml.Bind<SqliteSinkOptions>(yaml, "sinks.local", _ => null, "type");

    [Theory]
    [InlineData(":memory:", "sinks.s.path (:memory:) must be a file path: an in-memory database is not durable")]
    [InlineData("   ", "sinks.s.path (empty) must be a file path")]
    [InlineData("data/", "sinks.s.path (data/) must be a file path")]
    public void Path_must_name_a_file(string path, string message)
    {
        Assert.Equal([message], new SqliteSinkOptions { Path = path }.Validate("sinks.s"));
    }

    [Fact]
    public async Task Opening_with_invalid_options_throws_every_problem()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(async () =>
            await SqliteSink.OpenAsync("local", new SqliteSinkOptions { DeleteMarkerRetention = TimeSpan.Zero }, CancellationToken.None));

        Assert.StartsWith(
            "sinks.local.path (empty) must be a file path; sinks.local.deleteMarkerRetention (0ms) must be positive",
            e.Message,
            StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(5, 5, ErrorVerdict.Transient)] // SQLITE_BUSY
    [InlineData(5, 517, ErrorVerdict.Transient)] // SQLITE_BUSY_SNAPSHOT
    [InlineData(6, 262, ErrorVerdict.Transient)] // SQLITE_LOCKED_SHAREDCACHE
    [InlineData(19, 1299, ErrorVerdict.Poison)] // SQLITE_CONSTRAINT_NOTNULL
    [InlineData(19, 1555, ErrorVerdict.Poison)] // SQLITE_CONSTRAINT_PRIMARYKEY
    [InlineData(20, 20, ErrorVerdict.Poison)] // SQLITE_MISMATCH
    [InlineData(18, 18, ErrorVerdict.Poison)] // SQLITE_TOOBIG
    [InlineData(10, 778, ErrorVerdict.Fatal)] // SQLITE_IOERR_WRITE
    [InlineData(11, 11, ErrorVerdict.Fatal)] // SQLITE_CORRUPT
    [InlineData(13, 13, ErrorVerdict.Fatal)] // SQLITE_FULL
    [InlineData(8, 8, ErrorVerdict.Fatal)] // SQLITE_READONLY
    [InlineData(26, 26, ErrorVerdict.Fatal)] // SQLITE_NOTADB
    [InlineData(1, 1, ErrorVerdict.Fatal)] // SQLITE_ERROR (a statement of ours failed)
    public void Classifier_tells_transient_poison_and_fatal_errors_apart(int code, int extended, ErrorVerdict verdict)
    {
        Assert.Equal(verdict, SqliteErrorClassifier.Classify(new SqliteException("x", code, extended)));
    }

    [Fact]
    public void Classifier_treats_errors_from_outside_sqlite_as_fatal()
    {
        Assert.Equal(ErrorVerdict.Fatal, SqliteErrorClassifier.Classify(new IOException("disk")));
    }

    [Fact]
    public void Backoff_doubles_up_to_its_cap()
    {
        var policy = new RetryPolicy { InitialDelay = TimeSpan.FromMilliseconds(50), MaxDelay = TimeSpan.FromMilliseconds(300) };

        Assert.Equal(
            [50, 100, 200, 300, 300],
            Enumerable.Range(1, 5).Select(a => policy.DelayAfter(a).TotalMilliseconds));
        Assert.Equal(TimeSpan.FromMilliseconds(300), policy.DelayAfter(int.MaxValue));
    }
}
