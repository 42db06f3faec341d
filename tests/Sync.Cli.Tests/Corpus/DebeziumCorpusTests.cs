using System.Text.Json.Nodes;

namespace Sync.Cli.Tests.Corpus;

/// <summary>Every case folder under tests/corpus/debezium/ runs through the real CLI, from its changelog
/// file into SQLite and into PostgreSQL, and each table must end holding exactly the rows of the case's
/// expected.json (see tests/corpus/debezium/README.md for the folder format).</summary>
public sealed class DebeziumCorpusTests
{
    /// <summary>The files every case folder must hold.</summary>
    public static readonly string[] RequiredFiles = ["changelog.jsonl", "materializers.yaml", "expected.json", "ORIGIN.md"];

    public static string CorpusRoot => Path.Combine(RepoPaths.Root, "tests", "corpus", "debezium");

    /// <summary>One case per folder and sink, found when the tests are discovered: a new folder needs no code.</summary>
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var folder in CaseFolders())
        {
            data.Add(folder, "sqlite");
            data.Add(folder, "postgres");
        }

        return data;
    }

    private static IEnumerable<string> CaseFolders() =>
        Directory.Exists(CorpusRoot)
            ? Directory.GetDirectories(CorpusRoot).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)
            : [];

    [Fact]
    public void The_corpus_has_cases()
    {
        Assert.True(Directory.Exists(CorpusRoot), $"{CorpusRoot} does not exist");
        Assert.NotEmpty(CaseFolders());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task The_case_materializes_exactly_the_expected_rows(string folder, string sink)
    {
        var directory = Path.Combine(CorpusRoot, folder);
        var missing = RequiredFiles.Where(f => !File.Exists(Path.Combine(directory, f))).ToList();
        Assert.True(missing.Count == 0, $"corpus case {folder} lacks {string.Join(", ", missing)} (every case folder needs {string.Join(", ", RequiredFiles)})");

        using var workspace = new Workspace();
        File.Copy(Path.Combine(directory, "changelog.jsonl"), workspace.File("corpus.changelog.jsonl"));
        await using var target = sink == "postgres" ? await CorpusTarget.PostgresAsync() : CorpusTarget.Sqlite(workspace.File("target.db"));
        var config = workspace.Write("sync.yaml", $"""
            sources:
              corpus: {"{"} type: file, path: corpus.changelog.jsonl {"}"}
            sinks:
              target: {target.SinkYaml}

            """ + File.ReadAllText(Path.Combine(directory, "materializers.yaml")));

        var run = await workspace.Sync("run", "--config", config);

        // Without expected-run.json a case must run cleanly: exit 0 and no dead letter (a well-formed
        // message is never dead-lettered).
        var expectedRun = Path.Combine(directory, "expected-run.json");
        var runChecks = File.Exists(expectedRun)
            ? JsonNode.Parse(File.ReadAllText(expectedRun))!.AsObject()
            : new JsonObject { ["exitCode"] = 0L, ["deadLetters"] = 0L };
        var problems = CheckRun(runChecks, File.Exists(expectedRun) ? "expected-run.json" : "run (no expected-run.json: exit 0, no dead letter)", run, workspace.Directory).ToList();

        var expected = JsonNode.Parse(File.ReadAllText(Path.Combine(directory, "expected.json")))!.AsObject();
        foreach (var (table, rows) in expected)
        {
            var wanted = rows!.AsArray().Select(r => r!.AsObject()).ToList();
            var actual = await target.ReadAsync(table);
            problems.AddRange(RowComparison.Compare(table, wanted, actual));
        }

        Assert.True(problems.Count == 0, $"corpus case {folder} into {sink}:\n  " + string.Join("\n  ", problems) + "\n" + run);
    }

    /// <summary>The checks of expected-run.json: <c>exitCode</c>, <c>deadLetters</c> (lines of the
    /// dead-letter files), and any other key as a column of the run summary, summed over the materializers.</summary>
    private static IEnumerable<string> CheckRun(JsonObject expected, string label, ProcessResult run, string directory)
    {
        var summary = RunSummary.Parse(run.Output);
        foreach (var (name, value) in expected)
        {
            var want = value!.GetValue<long>();
            long? got = name switch
            {
                "exitCode" => run.ExitCode,
                "deadLetters" => Directory.GetFiles(directory, "*.deadletter.jsonl", SearchOption.AllDirectories)
                    .Sum(f => File.ReadLines(f).Count(l => l.Length > 0)),
                _ => summary.Total(name),
            };
            if (got is null)
            {
                yield return $"{label}: {name}: the run summary has no column {name} (columns: {string.Join(", ", summary.Columns)})";
            }
            else if (got != want)
            {
                yield return $"{label}: {name}: expected {want}, got {got}";
            }
        }
    }
}

/// <summary>The table the CLI prints at the end of a run (src/Sync.Cli/Output/SummaryTable.cs): a
/// header line naming the columns, a rule, one line per materializer.</summary>
internal sealed class RunSummary
{
    private readonly List<string[]> _rows = [];

    public IReadOnlyList<string> Columns { get; private set; } = [];

    public static RunSummary Parse(string output)
    {
        var summary = new RunSummary();
        var lines = output.Split('\n');
        var header = Array.FindIndex(lines, l => l.TrimStart().StartsWith("materializer ", StringComparison.Ordinal));
        if (header < 0)
        {
            return summary;
        }

        summary.Columns = lines[header].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        foreach (var line in lines.Skip(header + 1))
        {
            if (line.Contains('─', StringComparison.Ordinal))
            {
                continue;
            }

            var cells = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (cells.Length != summary.Columns.Count)
            {
                break;
            }

            summary._rows.Add(cells);
        }

        return summary;
    }

    /// <summary>The sum of a numeric column over the materializers, or null when there is no such column.</summary>
    public long? Total(string column)
    {
        var index = Columns.ToList().IndexOf(column);
        return index < 0 ? null : _rows.Sum(r => long.Parse(r[index], CultureInfo.InvariantCulture));
    }
}

/// <summary>A table read back from a sink: its columns with their declared types, and its rows as canonical JSON.</summary>
internal sealed record SinkTable(bool Exists, IReadOnlyList<string> Columns, IReadOnlyDictionary<string, string> Types, IReadOnlyList<JsonObject> Rows);

/// <summary>Row-by-row comparison of expected rows with the rows a sink holds (order does not matter).</summary>
internal static class RowComparison
{
    public static List<string> Compare(string table, IReadOnlyList<JsonObject> expected, SinkTable actual)
    {
        var problems = new List<string>();
        if (!actual.Exists)
        {
            if (expected.Count > 0)
            {
                problems.Add($"{table}: the table does not exist; expected {expected.Count} rows");
            }

            return problems;
        }

        var expectedColumns = expected.SelectMany(r => r.Select(p => p.Key)).Distinct().ToList();
        foreach (var column in expectedColumns.Except(actual.Columns))
        {
            problems.Add($"{table}: column {column} is expected but the table has no such column");
        }

        foreach (var column in actual.Columns.Except(expectedColumns))
        {
            if (expected.Count > 0)
            {
                problems.Add($"{table}: the table has column {column} ({actual.Types[column]}), which expected.json does not list");
            }
        }

        var unmatched = actual.Rows.ToList();
        var missing = new List<JsonObject>();
        foreach (var row in expected)
        {
            var match = unmatched.FindIndex(a => RowEquals(row, a, actual.Types));
            if (match >= 0)
            {
                unmatched.RemoveAt(match);
            }
            else
            {
                missing.Add(row);
            }
        }

        foreach (var row in missing)
        {
            // The nearest stored row: the one that agrees on the first expected column (the key, by
            // convention) and on the most columns; reported column by column.
            var first = row.First().Key;
            var nearest = unmatched
                .Where(a => CellEquals(row[first], a[first], actual.Types.GetValueOrDefault(first, "")))
                .OrderByDescending(a => row.Count(p => CellEquals(p.Value, a[p.Key], actual.Types.GetValueOrDefault(p.Key, ""))))
                .FirstOrDefault();
            if (nearest is null)
            {
                problems.Add($"{table}: missing row {Show(row)}");
                continue;
            }

            unmatched.Remove(nearest);
            foreach (var column in nearest.Select(p => p.Key).Where(c => !row.ContainsKey(c)))
            {
                problems.Add($"{table}: row {first}={Show(row[first])}: column {column} is stored ({Show(nearest[column])}) but missing from the expected row");
            }

            foreach (var (column, value) in row)
            {
                var type = actual.Types.GetValueOrDefault(column, "");
                if (nearest.ContainsKey(column) && !CellEquals(value, nearest[column], type))
                {
                    problems.Add($"{table}: row {first}={Show(row[first])}: column {column} ({type}): expected {Show(value)}, got {Show(nearest[column])}");
                }
            }
        }

        problems.AddRange(unmatched.Select(row => $"{table}: extra row {Show(row)}"));
        return problems;
    }

    private static readonly JsonSerializerOptions Readable = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A value as JSON for a message, without escaping that hides characters (<c>+</c>, quotes).</summary>
    private static string Show(JsonNode? node) => node?.ToJsonString(Readable) ?? "null";

    private static bool RowEquals(JsonObject expected, JsonObject actual, IReadOnlyDictionary<string, string> types) =>
        expected.Count == actual.Count
        && expected.All(p => actual.ContainsKey(p.Key) && CellEquals(p.Value, actual[p.Key], types.GetValueOrDefault(p.Key, "")));

    /// <summary>Canonical equality: numbers by value (decimals exactly, 12.30 = 12.3; floating-point
    /// columns as the column's float width), JSON by value, a JSON or numeric value stored as text (SQLite)
    /// by its parsed value, timestamptz by instant, everything else as the exact canonical text.</summary>
    public static bool CellEquals(JsonNode? expected, JsonNode? actual, string type)
    {
        if (expected is null || actual is null)
        {
            return expected is null && actual is null;
        }

        var isJson = type is "jsonb" or "json";
        if (isJson || expected.GetValueKind() is JsonValueKind.Object or JsonValueKind.Array)
        {
            return actual.GetValueKind() == JsonValueKind.String && !isJson
                ? TryParse(actual.GetValue<string>()) is { } parsed && JsonEquals(expected, parsed)
                : JsonEquals(expected, actual);
        }

        switch (expected.GetValueKind())
        {
            case JsonValueKind.Number:
                var text = actual.GetValueKind() switch
                {
                    JsonValueKind.Number => actual.ToJsonString(),
                    JsonValueKind.String => actual.GetValue<string>(),
                    _ => null,
                };
                return text is not null && NumberEquals(expected.ToJsonString(), text, type);
            case JsonValueKind.True or JsonValueKind.False:
                return actual.GetValueKind() == expected.GetValueKind();
            case JsonValueKind.String when actual.GetValueKind() == JsonValueKind.String:
                var e = expected.GetValue<string>();
                var a = actual.GetValue<string>();
                if (type == "timestamp with time zone")
                {
                    return DateTimeOffset.TryParse(e, CultureInfo.InvariantCulture, DateTimeStyles.None, out var eInstant)
                        && DateTimeOffset.TryParse(a, CultureInfo.InvariantCulture, DateTimeStyles.None, out var aInstant)
                        && eInstant.UtcTicks == aInstant.UtcTicks;
                }

                return e == a;
            default:
                return false;
        }
    }

    private static JsonNode? TryParse(string text)
    {
        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static bool JsonEquals(JsonNode? a, JsonNode? b)
    {
        if (a is null || b is null)
        {
            return a is null && b is null;
        }

        return (a, b) switch
        {
            (JsonObject x, JsonObject y) => x.Count == y.Count && x.All(p => y.ContainsKey(p.Key) && JsonEquals(p.Value, y[p.Key])),
            (JsonArray x, JsonArray y) => x.Count == y.Count && x.Zip(y).All(p => JsonEquals(p.First, p.Second)),
            _ when a.GetValueKind() == JsonValueKind.Number && b.GetValueKind() == JsonValueKind.Number => NumberEquals(a.ToJsonString(), b.ToJsonString(), ""),
            _ => a.GetValueKind() == b.GetValueKind() && a.ToJsonString() == b.ToJsonString(),
        };
    }

    /// <summary>Decimal numerals compare exactly by value; with an exponent, or in a floating-point
    /// column, by the value as the column's float type holds it.</summary>
    private static bool NumberEquals(string expected, string actual, string type)
    {
        if (type is "real" or "double precision" or "REAL"
            || expected.Contains('e', StringComparison.OrdinalIgnoreCase) || actual.Contains('e', StringComparison.OrdinalIgnoreCase)
            || actual is "NaN" or "Infinity" or "-Infinity")
        {
            if (!double.TryParse(expected, NumberStyles.Float, CultureInfo.InvariantCulture, out var e)
                || !double.TryParse(actual, NumberStyles.Float, CultureInfo.InvariantCulture, out var a))
            {
                return false;
            }

            return type == "real" ? (float)e == (float)a : e.Equals(a);
        }

        return Numeral(expected) is { } x && Numeral(actual) is { } y && x == y;
    }

    /// <summary>A plain decimal numeral without trailing fraction zeros (<c>12.30</c> → <c>12.3</c>, <c>-0.0</c> → <c>0</c>), or null.</summary>
    private static string? Numeral(string text)
    {
        var t = text.Trim();
        var negative = t.StartsWith('-');
        if (negative || t.StartsWith('+'))
        {
            t = t[1..];
        }

        if (t.Length == 0 || !t.All(c => char.IsAsciiDigit(c) || c == '.') || t.Count(c => c == '.') > 1)
        {
            return null;
        }

        var parts = t.Split('.');
        var whole = parts[0].TrimStart('0');
        var fraction = parts.Length > 1 ? parts[1].TrimEnd('0') : string.Empty;
        if (whole.Length == 0 && fraction.Length == 0)
        {
            return "0";
        }

        return (negative ? "-" : string.Empty) + (whole.Length == 0 ? "0" : whole) + (fraction.Length > 0 ? "." + fraction : string.Empty);
    }
}
