using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.RegularExpressions;

namespace Sync.Sources.Pulsar;

/// <summary>Where a subscription that does not exist yet starts.</summary>
public enum PulsarInitialPosition
{
    Earliest,
    Latest,
}
