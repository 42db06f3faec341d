namespace Sync.Sinks.Redis;

/// <summary>A parsed key template: literal text and <c>{column}</c> placeholders; <c>{{</c> and <c>}}</c>
/// stand for literal braces. Rendering inserts each value's canonical text verbatim: a value holding
/// <c>:</c>, <c>{</c>, <c>}</c>, <c>*</c>, spaces or newlines is stored as is and never read as a
/// template or a pattern.</summary>
public sealed class RedisKeyTemplate
{
    private readonly (string Text, bool IsColumn)[] _parts;

    private RedisKeyTemplate(string text, (string Text, bool IsColumn)[] parts)
    {
        Text = text;
        _parts = parts;
        Placeholders = [.. parts.Where(p => p.IsColumn).Select(p => p.Text).Distinct(StringComparer.Ordinal)];
    }

    /// <summary>The template as configured.</summary>
    public string Text { get; }

    /// <summary>The distinct column names, in order of first appearance.</summary>
    public IReadOnlyList<string> Placeholders { get; }

    /// <summary>The single column when the template is literal text around exactly one placeholder.</summary>
    public string? SoleColumn => _parts.Count(p => p.IsColumn) == 1 ? Placeholders[0] : null;

    /// <summary>The hash tag every rendered key has when it is constant, else null: the text between
    /// the first literal <c>{</c> and the first <c>}</c> after it, with no placeholder between them.
    /// Redis Cluster hashes only that text when it is not empty, so every key of the template lands in
    /// one slot (Redis Cluster specification, key distribution model, "Hash tags":
    /// https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/#hash-tags). A tag
    /// that reaches a placeholder varies with the row, and an empty one (<c>{}</c>) hashes the whole
    /// key. Values rendered before the tag are taken to hold no <c>{</c> (one would open the tag earlier).</summary>
    public string? ConstantHashTag
    {
        get
        {
            foreach (var (text, isColumn) in _parts)
            {
                var open = isColumn ? -1 : text.IndexOf('{', StringComparison.Ordinal);
                if (open >= 0)
                {
                    var close = text.IndexOf('}', open + 1);
                    return close > open + 1 ? text[(open + 1)..close] : null;
                }
            }

            return null;
        }
    }

    public static RedisKeyTemplate Parse(string text) =>
        TryParse(text, out var template, out var error) ? template : throw new FormatException($"key template ({text}) {error}");

    /// <summary>The default key of a target: <paramref name="table"/>, then each key column after a <c>:</c>.</summary>
    public static RedisKeyTemplate ForKey(string table, IReadOnlyList<string> keyColumns)
    {
        var parts = new List<(string, bool)> { (table, false) };
        foreach (var column in keyColumns)
        {
            parts.Add((":", false));
            parts.Add((column, true));
        }

        return new RedisKeyTemplate(table + string.Concat(keyColumns.Select(c => ":{" + c + "}")), [.. parts]);
    }

    public static bool TryParse(string? text, out RedisKeyTemplate template, out string error)
    {
        template = null!;
        error = string.Empty;
        if (string.IsNullOrEmpty(text))
        {
            error = "must not be empty";
            return false;
        }

        var parts = new List<(string, bool)>();
        var literal = new StringBuilder();
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '{' && i + 1 < text.Length && text[i + 1] == '{')
            {
                literal.Append('{');
                i++;
            }
            else if (c == '}' && i + 1 < text.Length && text[i + 1] == '}')
            {
                literal.Append('}');
                i++;
            }
            else if (c == '{')
            {
                var end = text.IndexOf('}', i + 1);
                if (end < 0)
                {
                    error = $"has an unclosed {{ at position {i}";
                    return false;
                }

                var name = text[(i + 1)..end];
                if (name.Length == 0 || name.Contains('{', StringComparison.Ordinal))
                {
                    error = $"has an empty or malformed placeholder at position {i}";
                    return false;
                }

                if (literal.Length > 0)
                {
                    parts.Add((literal.ToString(), false));
                    literal.Clear();
                }

                parts.Add((name, true));
                i = end;
            }
            else if (c == '}')
            {
                error = $"has an unmatched }} at position {i} (write }}}} for a literal brace)";
                return false;
            }
            else
            {
                literal.Append(c);
            }
        }

        if (literal.Length > 0)
        {
            parts.Add((literal.ToString(), false));
        }

        template = new RedisKeyTemplate(text, [.. parts]);
        return true;
    }

    /// <summary>The key with each placeholder replaced by <paramref name="value"/>'s text for its column;
    /// null when a column has no value (absent or NULL), with that column in <paramref name="missing"/>.</summary>
    public string? Render(Func<string, string?> value, out string? missing) =>
        Render(value, static (value, column) => value(column), out missing);

    /// <summary>The key of <paramref name="row"/>: each placeholder replaced by its column's canonical
    /// text (<see cref="FieldValue.ToText"/>), as <see cref="Render(Func{string, string?}, out string?)"/>.</summary>
    public string? Render(Row row, out string? missing) =>
        Render(row, static (row, column) => row.TryGet(column, out var v) ? v.ToText() : null, out missing);

    /// <summary>The parts joined in one concatenation; the common templates (up to four parts: a
    /// literal and a column, or two around one) without a builder or an array.</summary>
    private string? Render<TSource>(TSource source, Func<TSource, string, string?> value, out string? missing)
    {
        missing = null;
        Span<string?> texts = _parts.Length <= 4 ? [null, null, null, null] : new string?[_parts.Length];
        for (var i = 0; i < _parts.Length; i++)
        {
            var (text, isColumn) = _parts[i];
            if (!isColumn)
            {
                texts[i] = text;
                continue;
            }

            if (value(source, text) is not { } columnText)
            {
                missing = text;
                return null;
            }

            texts[i] = columnText;
        }

        return string.Concat(texts[.._parts.Length]);
    }

    /// <summary>A <c>SCAN MATCH</c> pattern of every key the template renders: its literal text escaped
    /// (<see cref="RedisKeys.EscapePattern"/>), each placeholder <c>*</c>. It may match keys the template
    /// does not render too (another template's that shares the literal text).</summary>
    public string Pattern => string.Concat(_parts.Select(p => p.IsColumn ? "*" : RedisKeys.EscapePattern(p.Text)));

    /// <summary>The text of the <see cref="SoleColumn"/> in a key this template rendered (the key without
    /// the literal text around the placeholder); null when the key does not have that literal text.</summary>
    public string? SoleValueOf(string key)
    {
        if (SoleColumn is null)
        {
            return null;
        }

        var at = Array.FindIndex(_parts, p => p.IsColumn);
        var before = string.Concat(_parts[..at].Select(p => p.Text));
        var after = string.Concat(_parts[(at + 1)..].Select(p => p.Text));
        return key.Length >= before.Length + after.Length && key.StartsWith(before, StringComparison.Ordinal) && key.EndsWith(after, StringComparison.Ordinal)
            ? key[before.Length..^after.Length]
            : null;
    }

    /// <summary>This template with literal text put before it (itself when the text is empty).</summary>
    internal RedisKeyTemplate WithLiteralPrefix(string prefix) =>
        prefix.Length == 0 ? this : new RedisKeyTemplate(
            prefix.Replace("{", "{{", StringComparison.Ordinal).Replace("}", "}}", StringComparison.Ordinal) + Text,
            [(prefix, false), .. _parts]);

    public override string ToString() => Text;
}
