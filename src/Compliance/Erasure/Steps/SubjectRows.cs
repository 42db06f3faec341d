using System.Globalization;

namespace Sync.Compliance.Erasure.Steps;

/// <summary>The rows of a sink target that hold the requested keys in the binding's subject column.</summary>
public static class SubjectRows
{
    /// <summary>How many values one batched sink call carries: large enough that a batch of 1,000
    /// subjects is one or two statements per target, small enough to keep each statement's
    /// parameters and each Elasticsearch request modest.</summary>
    private const int SinkChunk = 500;

    /// <summary>The binding's subject column with the keys' values, in chunks of <see cref="SinkChunk"/>.</summary>
    public static IEnumerable<SubjectMatches> MatchesFor(SubjectBinding binding, IReadOnlyList<string> keys)
    {
        ArgumentNullException.ThrowIfNull(binding);
        return keys.Chunk(SinkChunk).Select(chunk => new SubjectMatches(binding.Key ?? binding.Field!, [.. chunk.Select(ValueOf)]) { IsKey = binding.Key is not null });
    }

    /// <summary>The rows matching the keys, and the keys that still have a row.</summary>
    public static async Task<RowCount> CountAsync(ISink sink, BoundMaterializer bound, IReadOnlyList<string> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(bound);
        long count = 0;
        var found = new List<string>();
        var offset = 0;
        foreach (var matches in MatchesFor(bound.Binding, keys))
        {
            var counts = await sink.CountManyAsync(bound.Target, matches, cancellationToken);
            for (var i = 0; i < counts.Count; i++)
            {
                count += counts[i];
                if (counts[i] > 0)
                {
                    found.Add(keys[offset + i]);
                }
            }

            offset += matches.Values.Count;
        }

        return new(count, found);
    }

    /// <summary>A key given as text: an integer when it reads as one (ids mostly are), else text;
    /// sinks compare it as the column's type would.</summary>
    private static FieldValue ValueOf(string key) =>
        long.TryParse(key, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number)
            && number.ToString(CultureInfo.InvariantCulture) == key
                ? FieldValue.FromInt64(number)
                : FieldValue.FromString(key);
}

/// <summary>Rows of a sink target matching the requested keys, and the keys that have at least one.</summary>
public sealed record RowCount(long Total, IReadOnlyList<string> KeysFound);
