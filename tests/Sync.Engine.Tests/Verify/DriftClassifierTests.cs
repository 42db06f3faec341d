using Sync.Engine.Verify;

namespace Sync.Engine.Tests.Verify;

public sealed class DriftClassifierTests
{
    private const string Stream = "users";

    private static readonly Dictionary<string, StreamPosition> NothingPinned = [];

    private static VerifyEntry Entry(EntryState state, long lsn, string name = "a", long line = 1) =>
        VerifyEntry.Of(
            new Row(["id"], [FieldValue.FromInt64(1)]),
            state,
            new ChangeVersion(lsn, Stream, StreamPosition.ForLine(line)),
            state == EntryState.Row ? new Row(["id", "name"], [FieldValue.FromInt64(1), FieldValue.FromString(name)]) : null);

    public static TheoryData<string, string> Cases => new()
    {
        { "log row 10, sink nothing", "missing" },
        { "log row 10, sink marker 5", "missing" },
        { "log row 10, sink marker 20", "ahead" },
        { "log row 10, sink erased", "clean" },
        { "log delete 10, sink row 5", "extra" },
        { "log delete 10, sink row 20", "ahead" },
        { "log nothing, sink row 5", "extra" },
        { "log suppressed 10, sink row 5", "extra residue" },
        { "log suppressed 10, sink nothing", "clean" },
        { "log row 10, sink row 5", "stale" },
        { "log row 10, sink row 20", "ahead" },
        { "log row 10, sink row 10", "clean" },
        { "log row 10, sink row 10 changed", "different" },
        { "log delete 10, sink marker 20", "clean" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Each_pair_of_states_gets_its_class(string pair, string expected)
    {
        var parts = pair.Split(", ");
        var finding = DriftClassifier.Classify(Side(parts[0]["log ".Length..]), Side(parts[1]["sink ".Length..]), NothingPinned);

        Assert.Equal(expected, Describe(finding));
    }

    [Fact]
    public void A_key_changed_after_the_pinned_checkpoint_is_pending_instead_of_drift()
    {
        var pinned = new Dictionary<string, StreamPosition> { [Stream] = StreamPosition.ForLine(5) };

        Assert.Equal("pending", Describe(DriftClassifier.Classify(Entry(EntryState.Row, 10, line: 6), Entry(EntryState.Row, 5, line: 3), pinned)));
        Assert.Equal("pending", Describe(DriftClassifier.Classify(Entry(EntryState.Row, 10, line: 4), Entry(EntryState.Row, 20, line: 7), pinned)));
        Assert.Equal("stale", Describe(DriftClassifier.Classify(Entry(EntryState.Row, 10, line: 4), Entry(EntryState.Row, 5, line: 3), pinned)));
    }

    private static VerifyEntry? Side(string text)
    {
        var words = text.Split(' ');
        return words[0] switch
        {
            "nothing" => null,
            "row" => Entry(EntryState.Row, long.Parse(words[1], CultureInfo.InvariantCulture), words.Length > 2 ? "b" : "a"),
            "delete" or "marker" => Entry(EntryState.Absent, long.Parse(words[1], CultureInfo.InvariantCulture)),
            "erased" => Entry(EntryState.Absent, long.MaxValue),
            _ => Entry(EntryState.Suppressed, long.Parse(words[1], CultureInfo.InvariantCulture)),
        };
    }

    private static string Describe(DriftFinding finding) => finding.Verdict switch
    {
        KeyVerdict.Clean => "clean",
        KeyVerdict.Pending => "pending",
        _ => finding.Class.Name() + (finding.Residue ? " residue" : string.Empty),
    };
}
