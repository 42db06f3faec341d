namespace Sync.Engine.Ledger;

/// <summary>The suppression ledger cannot be read (its database or broker is out of reach). A
/// materializer applies nothing until it can be read again, and reports degraded meanwhile.</summary>
public sealed class LedgerUnavailableException : Exception
{
    public LedgerUnavailableException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }

    public LedgerUnavailableException()
    {
    }

    public LedgerUnavailableException(string message)
        : base(message)
    {
    }
}
