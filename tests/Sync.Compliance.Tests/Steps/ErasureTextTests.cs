using System.Text.Json;

namespace Sync.Compliance.Tests.Steps;

public sealed class ErasureTextTests
{
    [Theory]
    [InlineData(ErasureVerdict.Planned, "planned")]
    [InlineData(ErasureVerdict.Complete, "complete")]
    [InlineData(ErasureVerdict.Incomplete, "incomplete")]
    [InlineData(ErasureVerdict.AlreadyErased, "already-erased")]
    [InlineData(ErasureVerdict.NotFound, "not-found")]
    public void A_verdict_reads_as_the_reports_and_the_ledgers_word_in_text_and_in_json(ErasureVerdict verdict, string text)
    {
        Assert.Equal(text, ErasureText.Of(verdict));
        Assert.Equal($"\"{text}\"", JsonSerializer.Serialize(verdict));
        Assert.Equal(verdict, JsonSerializer.Deserialize<ErasureVerdict>($"\"{text}\""));
        Assert.True(ErasureText.TryParse(text, out var parsed));
        Assert.Equal(verdict, parsed);
    }

    [Fact]
    public void The_ledgers_statuses_are_the_verdicts_words()
    {
        Assert.Equal(RequestStatusText.Of(RequestStatus.Complete), ErasureText.Of(ErasureVerdict.Complete));
        Assert.Equal(RequestStatusText.Of(RequestStatus.NotFound), ErasureText.Of(ErasureVerdict.NotFound));
        Assert.Equal(RequestStatusText.Of(RequestStatus.Incomplete), ErasureText.Of(ErasureVerdict.Incomplete));
    }
}
