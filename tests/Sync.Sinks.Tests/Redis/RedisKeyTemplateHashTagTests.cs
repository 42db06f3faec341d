using FsCheck.Xunit;

namespace Sync.Sinks.Tests.Redis;

/// <summary>Which key templates put every key in one Redis Cluster slot: those whose hash tag is
/// constant (Redis Cluster specification, key distribution model, "Hash tags":
/// https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags — only the text
/// between the first <c>{</c> and the first <c>}</c> after it is hashed, when it is not empty).</summary>
public sealed class RedisKeyTemplateHashTagTests
{
    private static readonly string[] Tokens = ["{{", "}}", "{id}", "a", ":", "{tenant}"];

    [Theory]
    [InlineData("{{users}}:{id}", "users")]
    [InlineData("app:{{users}}:{tenant}:{id}", "users")]
    [InlineData("{tenant}:{{users}}:{id}", "users")]
    [InlineData("{{users}}{{x}}:{id}", "users")]
    [InlineData("users:{id}", null)]
    [InlineData("users:{{{id}}}", null)]
    [InlineData("{{users:{id}}}", null)]
    [InlineData("{{}}{{users}}:{id}", null)]
    [InlineData("{{users:{id}", null)]
    [InlineData("users}}:{id}", null)]
    public void A_hash_tag_is_constant_only_when_no_placeholder_is_inside_it(string text, string? tag) =>
        Assert.Equal(tag, RedisKeyTemplate.Parse(text).ConstantHashTag);

    /// <summary>For any template over braces, literals and placeholders: a constant tag is exactly what
    /// Redis hashes of every key it renders, and without one two rows' keys hash differently.</summary>
    [Property(MaxTest = 500)]
    public void A_constant_hash_tag_is_what_every_rendered_key_hashes(byte[] picks)
    {
        var text = string.Concat((picks ?? []).Take(12).Select(p => Tokens[p % Tokens.Length]));
        if (!RedisKeyTemplate.TryParse(text, out var template, out _) || template.Placeholders.Count == 0)
        {
            return;
        }

        var first = RedisKeys.HashPart(template.Render(c => c + "-1", out _)!);
        var second = RedisKeys.HashPart(template.Render(c => c + "-2", out _)!);
        if (template.ConstantHashTag is { } tag)
        {
            Assert.Equal(tag, first);
            Assert.Equal(tag, second);
        }
        else
        {
            Assert.NotEqual(first, second);
        }
    }
}
