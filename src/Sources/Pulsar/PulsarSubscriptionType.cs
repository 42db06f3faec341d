using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;

namespace Sync.Sources.Pulsar;

/// <summary>How the broker shares a subscription among the `sync run` processes on it.</summary>
public enum PulsarSubscriptionType
{
    /// <summary>One active consumer, others stand by (per-partition order; the default).</summary>
    Failover,

    /// <summary>One consumer only; a second process is refused.</summary>
    Exclusive,

    /// <summary>Round robin over consumers; no order. Acknowledged message by message.</summary>
    Shared,

    /// <summary>Shared, but each key always goes to the same consumer (per-key order, scale-out).</summary>
    KeyShared,
}
