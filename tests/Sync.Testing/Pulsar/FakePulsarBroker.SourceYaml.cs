namespace Sync.Testing.Pulsar;

// The broker as a sync config names it.
public sealed partial class FakePulsarBroker
{
    /// <summary>A <c>pulsar</c> source on this broker, its service and admin URLs and then
    /// <paramref name="options"/> (each <c>key: value</c>), as one YAML flow mapping: it stands on the
    /// line of the source's name under <c>sources:</c>.</summary>
    public string SourceYaml(params string[] options) =>
        $"{{ type: pulsar, serviceUrl: '{ServiceUrl}', adminUrl: '{AdminUrl}'{string.Concat(options.Select(o => ", " + o))} }}";
}
