using System.Globalization;
using System.Net;
using Sync.Testing.Process;
using YamlDotNet.RepresentationModel;

namespace Sync.Deployment.Tests;

/// <summary>deploy/kubernetes/ checked against the CLI: the commands and flags the pods run exist,
/// the probe and scrape port is the one passed to --metrics-port, the probe and scrape paths are
/// served by a real `sync run --metrics-port`, and the ConfigMap's config passes `sync validate`
/// with the variables the Secret provides. No cluster runs here: nothing is applied.</summary>
[Collection(RunningSyncCollection.Name)]
public sealed class KubernetesManifestTests(RunningSync sync)
{
    private readonly KubernetesManifests _k8s = new();

    [Fact]
    public void The_kustomization_lists_every_manifest_but_the_placeholder_secret()
    {
        var listed = _k8s.Kustomization.Seq("resources").Texts().Order(StringComparer.Ordinal).ToList();
        var files = Directory.GetFiles(KubernetesManifests.Folder, "*.yaml").Select(f => Path.GetFileName(f))
            .Where(f => f is not "kustomization.yaml" and not "secret.yaml").Order(StringComparer.Ordinal).ToList();

        Assert.Equal(files, listed);
        var image = _k8s.Kustomization.Seq("images").Children.Cast<YamlMappingNode>().Single().Text("name");
        Assert.Equal(image, KubernetesManifests.OnlyContainer(_k8s.DeploymentPod).Text("image").Split(':')[0]);
        Assert.Equal(image, KubernetesManifests.OnlyContainer(_k8s.CronJobPod).Text("image").Split(':')[0]);
    }

    [Fact]
    public async Task The_deployment_and_cronjob_run_commands_and_flags_the_cli_has()
    {
        foreach (var pod in new[] { _k8s.DeploymentPod, _k8s.CronJobPod })
        {
            var args = KubernetesManifests.OnlyContainer(pod).Seq("args").Texts().ToList();
            var command = args.TakeWhile(a => !a.StartsWith('-')).ToArray();
            var help = await SyncProcess.RunAsync(Path.GetTempPath(), [.. command, "--help"]);

            Assert.True(help.ExitCode == 0, $"sync {string.Join(' ', command)} --help: {help}");
            Assert.Contains("Usage:", help.Output, StringComparison.Ordinal);
            foreach (var flag in args.Where(a => a.StartsWith("--", StringComparison.Ordinal)))
            {
                Assert.True(help.Output.Contains(flag + " ", StringComparison.Ordinal) || help.Output.Contains(flag + ",", StringComparison.Ordinal),
                    $"sync {string.Join(' ', command)} has no {flag} (its --help:\n{help.Output})");
            }
        }

        Assert.Equal(["run"], KubernetesManifests.OnlyContainer(_k8s.DeploymentPod).Seq("args").Texts().Take(1));
        // The scheduled check shipped is the topic audit, which only reads the topics.
        Assert.Equal(["audit", "topics"], KubernetesManifests.OnlyContainer(_k8s.CronJobPod).Seq("args").Texts().Take(2));
    }

    [Fact]
    public void Probes_and_scrape_annotations_use_the_metrics_port_of_the_run()
    {
        var container = KubernetesManifests.OnlyContainer(_k8s.DeploymentPod);
        var metricsPort = KubernetesManifests.Arg(container, "--metrics-port");
        var ports = container.Seq("ports").Children.Cast<YamlMappingNode>().ToDictionary(p => p.Text("name"), p => p.Text("containerPort"));
        string Resolve(YamlMappingNode httpGet) => httpGet.Text("port") is var port && ports.TryGetValue(port, out var number) ? number : port;

        Assert.Equal(metricsPort, Resolve(container.Map("livenessProbe").Map("httpGet")));
        Assert.Equal(metricsPort, Resolve(container.Map("readinessProbe").Map("httpGet")));
        var annotations = _k8s.DeploymentPod.Map("metadata").Map("annotations");
        Assert.Equal("true", annotations.Text("prometheus.io/scrape"));
        Assert.Equal(metricsPort, annotations.Text("prometheus.io/port"));
        Assert.Equal("/metrics", annotations.Text("prometheus.io/path"));
    }

    [Fact]
    public async Task The_probe_and_scrape_paths_are_the_ones_sync_run_serves()
    {
        var container = KubernetesManifests.OnlyContainer(_k8s.DeploymentPod);
        var liveness = container.Map("livenessProbe").Map("httpGet").Text("path");
        var readiness = container.Map("readinessProbe").Map("httpGet").Text("path");
        var scrape = _k8s.DeploymentPod.Map("metadata").Map("annotations").Text("prometheus.io/path");

        // A running materializer: both probes answer 200 (MetricsServer: 503 only when failed, or
        // for /readyz also starting, degraded or healing).
        Assert.Equal("/healthz", liveness);
        Assert.Equal("/readyz", readiness);
        foreach (var path in new[] { liveness, readiness })
        {
            using var response = await RunningSync.Http.GetAsync(sync.Url(path));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("\"materializers\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Contains("# TYPE sync_", await RunningSync.Http.GetStringAsync(sync.Url(scrape)), StringComparison.Ordinal);
        using var unknown = await RunningSync.Http.GetAsync(sync.Url("/health"));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public void The_deployment_runs_several_replicas_on_a_key_shared_subscription_with_resource_requests()
    {
        var replicas = int.Parse(_k8s.Deployment.Map("spec").Text("replicas"), CultureInfo.InvariantCulture);
        var config = LoadSyncConfig();
        var pulsarSources = config.Map("sources").Children.Values.Cast<YamlMappingNode>().Where(s => s.Text("type") == "pulsar").ToList();
        var requests = KubernetesManifests.OnlyContainer(_k8s.DeploymentPod).Map("resources").Map("requests");

        Assert.True(replicas >= 2, $"{replicas} replica(s): not a fleet");
        Assert.NotEmpty(pulsarSources);
        Assert.All(pulsarSources, s => Assert.Equal("key-shared", s.Text("subscriptionType")));
        Assert.False(string.IsNullOrEmpty(requests.Text("cpu")));
        Assert.False(string.IsNullOrEmpty(requests.Text("memory")));
        var selector = _k8s.Deployment.Map("spec").Map("selector").Map("matchLabels");
        var labels = _k8s.DeploymentPod.Map("metadata").Map("labels");
        Assert.All(selector.Keys(), k => Assert.Equal(selector.Text(k), labels.Text(k)));
    }

    [Fact]
    public void The_disruption_budget_selects_the_deployment_pods_and_keeps_most_of_them()
    {
        var spec = _k8s.DisruptionBudget.Map("spec");
        var selector = spec.Map("selector").Map("matchLabels");
        var labels = _k8s.DeploymentPod.Map("metadata").Map("labels");
        var cronLabels = _k8s.CronJobPod.Map("metadata").Map("labels");
        var replicas = int.Parse(_k8s.Deployment.Map("spec").Text("replicas"), CultureInfo.InvariantCulture);

        Assert.Equal("PodDisruptionBudget", _k8s.DisruptionBudget.Text("kind"));
        Assert.All(selector.Keys(), k => Assert.Equal(selector.Text(k), labels.Text(k)));
        // The audit job's pods are not the budget's.
        Assert.Contains(selector.Keys(), k => cronLabels.TryChild(k) is not YamlScalarNode { Value: var v } || v != selector.Text(k));
        Assert.True(int.Parse(spec.Text("maxUnavailable"), CultureInfo.InvariantCulture) < replicas);
    }

    [Fact]
    public void Both_workloads_mount_the_configmap_at_the_config_path_and_take_every_variable_from_the_secret()
    {
        var needed = Yaml.SyncVariables(_k8s.SyncConfigText);
        var secretName = _k8s.Secret.Map("metadata").Text("name");
        var configMapName = _k8s.ConfigMap.Map("metadata").Text("name");

        Assert.NotEmpty(needed);
        Assert.All(needed, v => Assert.True(v.Value || _k8s.SecretEnvironment.ContainsKey(v.Key), $"the config needs ${{{v.Key}}}, which the Secret does not hold"));
        foreach (var pod in new[] { _k8s.DeploymentPod, _k8s.CronJobPod })
        {
            var container = KubernetesManifests.OnlyContainer(pod);
            var configPath = KubernetesManifests.Arg(container, "--config");
            var envFrom = container.Seq("envFrom").Children.Cast<YamlMappingNode>().Select(e => e.Map("secretRef").Text("name"));
            Assert.Contains(secretName, envFrom);
            var volume = pod.Map("spec").Seq("volumes").Children.Cast<YamlMappingNode>().Single(v => v.TryChild("configMap") is not null);
            Assert.Equal(configMapName, volume.Map("configMap").Text("name"));
            var mount = container.Seq("volumeMounts").Children.Cast<YamlMappingNode>().Single(m => m.Text("name") == volume.Text("name"));
            Assert.Equal(configPath, $"{mount.Text("mountPath")}/sync.yaml");
            Assert.Equal("true", mount.Text("readOnly"));
        }
    }

    [Fact]
    public async Task The_configmap_config_passes_validate_with_the_secret_variables_set()
    {
        var folder = Directory.CreateTempSubdirectory("sync-k8s-").FullName;
        try
        {
            var path = Path.Combine(folder, "sync.yaml");
            await File.WriteAllTextAsync(path, _k8s.SyncConfigText);

            var result = await SyncProcess.RunWithEnvironmentAsync(folder, _k8s.SecretEnvironment, "validate", "--config", path);

            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Equal("ok", result.Output.Trim());
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void The_cronjob_runs_one_audit_at_a_time_and_does_not_retry_a_finding()
    {
        var spec = _k8s.CronJob.Map("spec");

        Assert.Equal(5, spec.Text("schedule").Split(' ', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Equal("Forbid", spec.Text("concurrencyPolicy"));
        Assert.Equal("0", spec.Map("jobTemplate").Map("spec").Text("backoffLimit"));
        Assert.Equal("Never", _k8s.CronJobPod.Map("spec").Text("restartPolicy"));
    }

    private YamlMappingNode LoadSyncConfig()
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(_k8s.SyncConfigText));
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }
}
