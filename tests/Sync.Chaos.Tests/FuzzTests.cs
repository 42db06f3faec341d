namespace Sync.Chaos.Tests;

/// <summary>The short version of the fuzz campaign: random and mutated inputs to the decoders, the
/// changelog line parser and the Pulsar frame parser end in a result or a documented rejection
/// with a reason, never in another exception or a hang.</summary>
public sealed class FuzzTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Mutated_and_random_inputs_to_every_parser_are_parsed_or_rejected_with_a_reason(int seed)
    {
        var result = FuzzCampaign.Run(inputs: 4000, seed, TextWriter.Null);

        Assert.True(result.Passed, $"{result.FigureLine}: {string.Join("; ", result.Examples)}");
        Assert.InRange(result.Rejected, 1, result.Inputs - 1);
    }
}
