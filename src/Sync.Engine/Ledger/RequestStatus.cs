namespace Sync.Engine.Ledger;

/// <summary>Where an erasure request stands.</summary>
public enum RequestStatus
{
    /// <summary>Recorded; the erasure has not finished (or was interrupted: running it again completes it).</summary>
    InProgress,

    /// <summary>The erasure found the subject and verified that it is gone everywhere.</summary>
    Complete,

    /// <summary>The erasure finished, but a check still found the subject somewhere.</summary>
    Incomplete,

    /// <summary>The erasure found the subject nowhere; it stays suppressed for data that may arrive later.</summary>
    NotFound,
}

/// <summary>The text of a <see cref="RequestStatus"/>, as ledgers store it and people read it.</summary>
public static class RequestStatusText
{
    public static string Of(RequestStatus status) => status switch
    {
        RequestStatus.InProgress => "in-progress",
        RequestStatus.Complete => "complete",
        RequestStatus.Incomplete => "incomplete",
        RequestStatus.NotFound => "not-found",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };

    public static RequestStatus Parse(string text) => text switch
    {
        "in-progress" => RequestStatus.InProgress,
        "complete" => RequestStatus.Complete,
        "incomplete" => RequestStatus.Incomplete,
        "not-found" => RequestStatus.NotFound,
        _ => throw new FormatException($"'{text}' is not an erasure request status (in-progress, complete, incomplete, not-found)"),
    };
}
