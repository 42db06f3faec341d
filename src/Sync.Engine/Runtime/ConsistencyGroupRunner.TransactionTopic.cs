namespace Sync.Engine.Runtime;

/// <summary>Whether the group has caught up with its transaction topic, which is when <c>endTimeout</c>
/// counts (<see cref="TransactionAssembler.TransactionTopicCaughtUp"/>).</summary>
public sealed partial class ConsistencyGroupRunner
{
    private (string Stream, StreamPosition Position)? _lastBoundary;

    /// <summary>Caught up when the read was not full (the source had nothing more to give within the
    /// linger), or the source says the transaction topic holds nothing after the last BEGIN or END read.
    /// A group behind on its topics reads full batches: then a missing BEGIN or END is only not read yet.</summary>
    private async Task<bool> CaughtUpWithTransactionsAsync(int read, CancellationToken cancellationToken)
    {
        if (read < _readBatch)
        {
            return true;
        }

        if (_lastBoundary is not { } last)
        {
            return false;
        }

        try
        {
            return await _reader.IsAtEndAsync(last.Stream, last.Position, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }
}
