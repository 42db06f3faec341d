using YamlDotNet.RepresentationModel;

namespace Sync.Sinks.Tests;

/// <summary>Binds a sink's options block as the config loader does, from YAML whose one top-level
/// key holds the block, and keeps the problems the binder reports.</summary>
internal static class OptionsYaml
{
    public static (T Options, List<ConfigProblem> Problems) Bind<T>(string yaml, string path, Func<string, string?> environment, params string[] ignored)
        where T : new()
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        var node = ((YamlMappingNode)stream.Documents[0].RootNode).Children.Single().Value;
        var problems = new List<ConfigProblem>();
        var binder = new OptionsBinder("sync.yaml", "/etc/sync", problems, environment);
        return (binder.Bind<T>(node, path, ignored), problems);
    }
}
