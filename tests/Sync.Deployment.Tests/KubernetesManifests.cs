using YamlDotNet.RepresentationModel;

namespace Sync.Deployment.Tests;

/// <summary>The files of deploy/kubernetes/, one object each.</summary>
internal sealed class KubernetesManifests
{
    public static string Folder => Path.Combine(Sync.Testing.Process.RepoPaths.Root, "deploy", "kubernetes");

    public YamlMappingNode Kustomization { get; } = Yaml.Load(Path.Combine(Folder, "kustomization.yaml"));

    public YamlMappingNode ConfigMap { get; } = Yaml.Load(Path.Combine(Folder, "configmap.yaml"));

    public YamlMappingNode Secret { get; } = Yaml.Load(Path.Combine(Folder, "secret.yaml"));

    public YamlMappingNode Deployment { get; } = Yaml.Load(Path.Combine(Folder, "deployment.yaml"));

    public YamlMappingNode CronJob { get; } = Yaml.Load(Path.Combine(Folder, "cronjob.yaml"));

    public YamlMappingNode DisruptionBudget { get; } = Yaml.Load(Path.Combine(Folder, "pdb.yaml"));

    public YamlMappingNode DeploymentPod => Deployment.Map("spec").Map("template");

    public YamlMappingNode CronJobPod => CronJob.Map("spec").Map("jobTemplate").Map("spec").Map("template");

    public static YamlMappingNode OnlyContainer(YamlMappingNode pod) =>
        Assert.IsType<YamlMappingNode>(Assert.Single(pod.Map("spec").Seq("containers").Children));

    /// <summary>The config file the ConfigMap holds, as `sync` reads it.</summary>
    public string SyncConfigText => ConfigMap.Map("data").Text("sync.yaml");

    /// <summary>The environment the Secret gives the pods (placeholder values).</summary>
    public IReadOnlyDictionary<string, string> SecretEnvironment =>
        Secret.Map("stringData").Children.ToDictionary(e => ((YamlScalarNode)e.Key).Value!, e => ((YamlScalarNode)e.Value).Value ?? string.Empty);

    /// <summary>The value after <paramref name="flag"/> in a container's args.</summary>
    public static string Arg(YamlMappingNode container, string flag)
    {
        var args = container.Seq("args").Texts().ToList();
        var at = args.IndexOf(flag);
        Assert.True(at >= 0 && at + 1 < args.Count, $"the container's args ({string.Join(' ', args)}) have no {flag} VALUE");
        return args[at + 1];
    }
}
