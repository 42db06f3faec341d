using Sync.Sources.Pulsar;

namespace Sync.Sources.File;

/// <summary>Opens <see cref="FileSourceReader"/>s.</summary>
public sealed class FileSourceFactory : ISourceFactory, IPreflightCheck
{
    public string Type => "file";

    public Type OptionsType => typeof(FileSourceOptions);

    /// <summary>A changelog file carries the topic names of the Pulsar topics it was written from
    /// (<c>sync dump</c>), partitions included.</summary>
    public ITopicNaming Naming => PulsarTopicNaming.Instance;

    /// <summary>The line cursor and the fingerprint of its line: both are written with every batch and
    /// are positions of this source (the fingerprint's ledger is the line number).</summary>
    public IReadOnlyList<string> CursorStreams(string sourceName) => [FileSourceReader.CursorStream(sourceName), FileSourceReader.FingerprintStream(sourceName)];

    public ISourceReader Open(ComponentConfig source, SourceReadRequest request) =>
        new FileSourceReader(source.Name, (FileSourceOptions)source.Options, request);

    public ITopicLog OpenLog(ComponentConfig source) => new FileTopicLog((FileSourceOptions)source.Options);

    public ValueTask<IReadOnlyList<CheckFinding>> CheckAsync(CheckScope scope, CancellationToken cancellationToken) =>
        new FileSourceCheck().CheckAsync(scope, cancellationToken);

    /// <summary>A followed file waits for new lines, in a backfill too.</summary>
    public bool HasNoEnd(ComponentConfig source, bool fromBeginning)
    {
        ArgumentNullException.ThrowIfNull(source);
        return ((FileSourceOptions)source.Options).Follow;
    }
}
