namespace Sync.Sinks.Tests.Conformance;

/// <summary>What the shared conformance suite needs from one sink: the sink under test on a
/// namespace of its own (a schema, key prefix or index prefix per test), a way to restart it, and
/// its rows read back in canonical text.</summary>
public interface ISinkHarness : IAsyncDisposable
{
    /// <summary>The sink under test. Replaced by <see cref="RestartAsync"/>.</summary>
    ISink Sink { get; }

    /// <summary>A target for a table (key space, index) that this test owns.</summary>
    TargetSpec Target(string table);

    /// <summary>Disposes the sink and opens it again on the same data, as after a process restart.</summary>
    Task RestartAsync();

    /// <summary>A second instance of the sink on the same data, as a second process opens it; the caller disposes it.</summary>
    Task<ISink> OpenAnotherAsync();

    /// <summary>Every live row of the target as <c>col=value|col=value</c> with columns in
    /// ordinal order of their names, values as <see cref="Sync.Engine.Changes.FieldValue.ToText"/>
    /// gives them (<c>null</c> for NULL), without the sink's own bookkeeping columns; rows sorted
    /// ordinally. A sink that stores a type natively (numeric, timestamp, uuid, jsonb, …) converts
    /// it back to that canonical text.</summary>
    Task<IReadOnlyList<string>> ReadAsync(TargetSpec target);
}
