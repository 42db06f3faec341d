using System.Runtime.Serialization;
using System.Text.Json.Serialization;

namespace Sync.Compliance.Erasure;

/// <summary>How an erasure ended, for the whole request and for each key. The text a report shows
/// for each verdict is its <see cref="EnumMemberAttribute"/> value (see <see cref="ErasureText"/>).</summary>
[JsonConverter(typeof(ErasureVerdictJsonConverter))]
public enum ErasureVerdict
{
    /// <summary>A dry run: nothing was changed.</summary>
    [EnumMember(Value = "planned")]
    Planned,

    /// <summary>Nothing references the subject any more.</summary>
    [EnumMember(Value = "complete")]
    Complete,

    /// <summary>A check still finds the subject, or a topic that carried it was not compacted.</summary>
    [EnumMember(Value = "incomplete")]
    Incomplete,

    /// <summary>An earlier erasure completed, and nothing named the subject since.</summary>
    [EnumMember(Value = "already-erased")]
    AlreadyErased,

    /// <summary>Nothing named the subject: no topic, no sink row, no dead letter. It is suppressed
    /// all the same, for data of it that may arrive later; a mistyped key is revoked with
    /// <c>sync ledger revoke</c>.</summary>
    [EnumMember(Value = "not-found")]
    NotFound,
}
