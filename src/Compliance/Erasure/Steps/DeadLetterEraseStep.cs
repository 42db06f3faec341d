using Sync.Engine.DeadLetters;

namespace Sync.Compliance.Erasure.Steps;

/// <summary>Input of <see cref="DeadLetterEraseStep"/>.</summary>
public sealed record DeadLetterEraseInput(ErasureScope Scope);

/// <summary>What a search of one materializer's dead-letter table found.</summary>
/// <param name="Letters">Letters searched.</param>
/// <param name="Unreadable">Letters that did not decode, and so could not be searched.</param>
/// <param name="Naming">Ids of the letters that name a subject.</param>
/// <param name="Subjects">The requested subjects those letters name.</param>
public sealed record LetterScan(long Letters, long Unreadable, IReadOnlyList<long> Naming, IReadOnlySet<string> Subjects);

/// <summary>One dead-letter table searched: by whose reader, in which store, and what the search before any delete found.</summary>
public sealed record DeadLetterSearch(BindingReader Reader, IDeadLetterStore Store, LetterScan Before);

/// <summary>Output of <see cref="DeadLetterEraseStep"/>.</summary>
public sealed record DeadLetterErasure(IReadOnlyList<DeadLetterSearch> Tables);

/// <summary>Searches the dead-letter tables of the bound materializers (<c>deadLetterTarget: table</c>)
/// and deletes the letters that name a subject.</summary>
public sealed class DeadLetterEraseStep : IErasureStep<DeadLetterEraseInput, DeadLetterErasure>
{
    private const int Page = 1_000;

    public async Task<DeadLetterErasure> RunAsync(DeadLetterEraseInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        var scope = input.Scope;
        var searches = new List<DeadLetterSearch>();
        foreach (var bound in scope.Bindings.Where(b => scope.Config.DeadLetterKindOf(b.Options) == DeadLetterKind.Table))
        {
            if (scope.SinkOf(bound) is not IDeadLetterStore store)
            {
                continue;
            }

            var reader = scope.Reader(bound);
            var scan = await ScanAsync(store, reader, scope.KeySet, cancellationToken);
            searches.Add(new DeadLetterSearch(reader, store, scan));
            if (!scope.DryRun && scan.Naming.Count > 0)
            {
                await store.DeleteDeadLettersAsync(bound.Materializer, scan.Naming, cancellationToken);
            }
        }

        return new DeadLetterErasure(searches);
    }

    /// <summary>The letters of one materializer's dead-letter table that name a subject, decoded
    /// as the materializer decodes its messages; a letter that does not decode is counted apart.</summary>
    public static async Task<LetterScan> ScanAsync(IDeadLetterStore store, BindingReader reader, HashSet<string> keys, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(reader);
        var materializer = reader.Binding.Materializer;
        var last = await store.LastDeadLetterIdAsync(materializer, cancellationToken);
        long letters = 0, unreadable = 0, after = 0;
        var naming = new List<long>();
        var subjects = new HashSet<string>(StringComparer.Ordinal);
        while (await store.ReadDeadLettersAsync(materializer, after, last, Page, cancellationToken) is { Count: > 0 } page)
        {
            foreach (var (id, letter) in page)
            {
                after = id;
                letters++;
                var record = DeadLetterTableReader.ToRecord(store.DeadLetterTable, id, letter);
                if (record.Message is not { } message || reader.SubjectsInLetter(message, keys) is not { } named)
                {
                    unreadable++;
                }
                else if (named.Count > 0)
                {
                    naming.Add(id);
                    subjects.UnionWith(named);
                }
            }
        }

        return new LetterScan(letters, unreadable, naming, subjects);
    }
}
