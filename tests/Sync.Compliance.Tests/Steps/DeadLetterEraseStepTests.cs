using System.Text;
using Sync.Engine.Sinks;
using Sync.Engine.DeadLetters;

namespace Sync.Compliance.Tests.Steps;

public sealed class DeadLetterEraseStepTests : StepTests
{
    private readonly DateTimeOffset _now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task The_letters_that_name_a_subject_are_deleted_and_those_that_do_not_decode_are_counted_apart()
    {
        Fixture.Config.Materializers.First(m => m.Key == "customers").Value.DeadLetterTarget = DeadLetterKind.Table;
        var scope = await Fixture.ScopeAsync(["1"]);
        var store = (IDeadLetterStore)scope.SinkOf(scope.Bindings.First(b => b.Materializer == "customers"));
        var ada = await CustomerAsync(1);
        await store.AppendDeadLettersAsync(
            [
                DeadLetterRow.Of("customers", "apply", ada, "value too long for column name", _now),
                DeadLetterRow.Of("customers", "apply", await CustomerAsync(2), "value too long for column name", _now),
                DeadLetterRow.Of("customers", "decode", new SourceMessage { Topic = ada.Topic, Position = new StreamPosition(9, 2), Key = ada.Key, Value = "{\"after\":{\"id\":1,\"name\":\"Ada"u8.ToArray() }, "malformed JSON", _now),
            ],
            CancellationToken.None);

        var erased = await new DeadLetterEraseStep().RunAsync(new(scope), CancellationToken.None);

        var search = Assert.Single(erased.Tables);
        Assert.Equal("customers", search.Reader.Binding.Materializer);
        Assert.Equal(3, search.Before.Letters);
        Assert.Single(search.Before.Naming);
        Assert.Equal(1, search.Before.Unreadable);
        Assert.Equal("1", Assert.Single(search.Before.Subjects));
        var after = await DeadLetterEraseStep.ScanAsync(store, search.Reader, scope.KeySet, CancellationToken.None);
        Assert.Equal(2, after.Letters);
        Assert.Empty(after.Naming);
    }

    [Fact]
    public async Task Materializers_without_a_dead_letter_table_are_not_searched()
    {
        var scope = await Fixture.ScopeAsync(["1"]);

        var erased = await new DeadLetterEraseStep().RunAsync(new(scope), CancellationToken.None);

        Assert.Empty(erased.Tables);
    }

    private async Task<SourceMessage> CustomerAsync(int id)
    {
        var lines = await File.ReadAllLinesAsync(Fixture.Changelog);
        return ChangelogLineParser.Parse(
            Encoding.UTF8.GetBytes(lines.First(l => l.Contains("db1.public.customers", StringComparison.Ordinal) && l.Contains($"\"after\":{{\"id\":{id},", StringComparison.Ordinal))),
            StreamPosition.ForLine(1),
            out _);
    }
}
