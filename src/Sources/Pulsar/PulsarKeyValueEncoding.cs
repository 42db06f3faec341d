using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;

namespace Sync.Sources.Pulsar;

/// <summary>How the source tells Pulsar KeyValue messages apart (Pulsar IO writes INLINE ones with
/// <c>json-with-envelope: true</c>, SEPARATED ones without).</summary>
public enum PulsarKeyValueEncoding
{
    /// <summary>From each message's schema version: the topic's schema at that version, fetched once (GET_SCHEMA).</summary>
    Auto,

    /// <summary>Every message is INLINE KeyValue: key and value in the payload.</summary>
    Inline,

    /// <summary>Every message is SEPARATED KeyValue: the payload is the value, the key the message key.</summary>
    Separated,

    /// <summary>Plain messages: the payload is the value, the key the message key.</summary>
    None,
}
