using Sync.Testing.Docker;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Sync.Pulsar.Tests.Portable;

/// <summary>Test classes that run the portable suite against a broker in a container.</summary>
public interface INeedsDocker;

/// <summary>
/// A test of the portable client suite (<see cref="ClientSuite"/>): it runs once per broker the
/// suite is bound to. In a class bound to a real broker in a container (<see cref="INeedsDocker"/>)
/// it is skipped, with the reason printed, where no Docker engine runs.
/// </summary>
[XunitTestCaseDiscoverer("Sync.Pulsar.Tests.Portable.BrokerFactDiscoverer", "Sync.Pulsar.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class BrokerFactAttribute : FactAttribute;

/// <summary>Decides the skip per test class rather than per method, which a plain Skip cannot.</summary>
public sealed class BrokerFactDiscoverer(IMessageSink diagnosticMessageSink) : IXunitTestCaseDiscoverer
{
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute)
    {
        var needsDocker = typeof(INeedsDocker).IsAssignableFrom(testMethod.TestClass.Class.ToRuntimeType());
        var skip = needsDocker && !DockerEnvironment.IsAvailable ? DockerEnvironment.SkipReason : null;
        yield return new BrokerTestCase(diagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod, skip);
    }
}

/// <summary>A test case whose skip reason comes from the discoverer.</summary>
public sealed class BrokerTestCase : XunitTestCase
{
    private string? _skipReason;

    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public BrokerTestCase()
    {
    }

    public BrokerTestCase(IMessageSink sink, TestMethodDisplay display, TestMethodDisplayOptions options, ITestMethod testMethod, string? skipReason)
        : base(sink, display, options, testMethod)
    {
        _skipReason = skipReason;
    }

    protected override string? GetSkipReason(IAttributeInfo factAttribute) => _skipReason ?? base.GetSkipReason(factAttribute);

    public override void Serialize(IXunitSerializationInfo data)
    {
        base.Serialize(data);
        data.AddValue("BrokerSkipReason", _skipReason);
    }

    public override void Deserialize(IXunitSerializationInfo data)
    {
        _skipReason = data.GetValue<string?>("BrokerSkipReason");
        base.Deserialize(data);
    }
}
