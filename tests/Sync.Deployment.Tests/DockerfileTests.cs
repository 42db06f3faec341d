using System.Text.Json;
using System.Xml.Linq;
using Sync.Testing.Process;

namespace Sync.Deployment.Tests;

/// <summary>The Dockerfile at the repository root, read statically and checked against the projects
/// it builds and the compose service that runs it.</summary>
public sealed class DockerfileTests
{
    private static readonly string DockerfilePath = Path.Combine(RepoPaths.Root, "Dockerfile");
    private readonly string[] _lines = File.ReadAllLines(DockerfilePath);

    private IEnumerable<string> Instructions(string name) =>
        _lines.Where(l => l.StartsWith(name + " ", StringComparison.Ordinal)).Select(l => l[(name.Length + 1)..].Trim());

    [Fact]
    public void The_compose_service_builds_this_dockerfile()
    {
        var build = new ComposeStack().Service("sync").Map("build");
        var context = Path.GetFullPath(Path.Combine(ComposeStack.Folder, build.Text("context")));

        Assert.Equal(DockerfilePath, Path.Combine(context, build.Text("dockerfile")));
        Assert.Contains("SOURCE_REVISION", build.Map("args").Keys());
        Assert.Contains(Instructions("ARG"), a => a.StartsWith("SOURCE_REVISION", StringComparison.Ordinal));
    }

    [Fact]
    public void The_entrypoint_is_the_cli_the_project_builds()
    {
        var assemblyName = XDocument.Load(Path.Combine(RepoPaths.Root, "src", "Sync.Cli", "Sync.Cli.csproj"))
            .Descendants("AssemblyName").Single().Value;
        var entrypoint = JsonSerializer.Deserialize<string[]>(Instructions("ENTRYPOINT").Single())!;

        Assert.Equal($"/app/{assemblyName}", Assert.Single(entrypoint));
        Assert.Contains(Instructions("WORKDIR"), w => w == "/app");
    }

    [Fact]
    public void The_runtime_stage_runs_as_a_non_root_user_on_a_runtime_only_image()
    {
        var stages = Instructions("FROM").ToList();
        var runtime = stages[^1];

        Assert.True(stages.Count >= 2, "a multi-stage build: the SDK stays out of the runtime image");
        Assert.Contains("dotnet/sdk", stages[0], StringComparison.Ordinal);
        Assert.Contains("dotnet/runtime:", runtime, StringComparison.Ordinal);
        var lastUser = Instructions("USER").Last();
        Assert.NotEqual("root", lastUser);
        Assert.NotEqual("0", lastUser);
    }

    [Fact]
    public void The_restore_layer_copies_every_project_the_cli_depends_on()
    {
        var copied = Instructions("COPY").Select(c => c.Split(' ')[0]).ToHashSet(StringComparer.Ordinal);
        foreach (var project in ProjectClosure(Path.Combine(RepoPaths.Root, "src", "Sync.Cli", "Sync.Cli.csproj")))
        {
            var relative = Path.GetRelativePath(RepoPaths.Root, project).Replace('\\', '/');
            Assert.True(copied.Contains(relative), $"{relative} is not copied before `dotnet restore`");
        }
    }

    [Fact]
    public void The_docker_ignore_file_lets_the_sources_and_build_settings_in()
    {
        var rules = File.ReadAllLines(Path.Combine(RepoPaths.Root, ".dockerignore"))
            .Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();

        Assert.Equal("*", rules[0]);
        foreach (var needed in new[] { "src/", "global.json", "Directory.Build.props", "Directory.Packages.props" })
        {
            Assert.Contains("!" + needed, rules);
        }
    }

    [Fact]
    public void The_sync_service_command_is_a_command_of_the_cli()
    {
        var command = new ComposeStack().Service("sync").Seq("command").Texts().First();
        var root = Sync.Cli.SyncCli.Build(TextWriter.Null, TextWriter.Null);

        Assert.Contains(command, root.Subcommands.Select(c => c.Name));
    }

    [Fact]
    public void The_healthcheck_asks_healthz_of_the_run_on_the_port_compose_and_kubernetes_pass_to_metrics_port()
    {
        var healthcheck = Instruction("HEALTHCHECK");
        var cmd = JsonSerializer.Deserialize<string[]>(healthcheck[(healthcheck.IndexOf("CMD [", StringComparison.Ordinal) + 4)..])!;
        var root = Sync.Cli.SyncCli.Build(TextWriter.Null, TextWriter.Null);
        var entrypoint = JsonSerializer.Deserialize<string[]>(Instructions("ENTRYPOINT").Single())!.Single();
        var compose = new ComposeStack().Service("sync");
        var composeCommand = compose.Seq("command").Texts().ToList();
        var composePort = composeCommand[composeCommand.IndexOf("--metrics-port") + 1];
        var kubernetesPort = KubernetesManifests.Arg(KubernetesManifests.OnlyContainer(new KubernetesManifests().DeploymentPod), "--metrics-port");

        // The chiseled runtime has no shell, curl or wget: the check is the CLI itself, in exec form.
        Assert.Equal(entrypoint, cmd[0]);
        var command = root.Subcommands.Single(c => c.Name == cmd[1]);
        var parsed = root.Parse(cmd[1..]);
        Assert.Empty(parsed.Errors);
        Assert.Equal("/healthz", cmd[cmd.ToList().IndexOf("--path") + 1]);
        Assert.Equal(composePort, cmd[cmd.ToList().IndexOf("--port") + 1]);
        Assert.Equal(kubernetesPort, composePort);
        Assert.Contains(compose.Seq("ports").Texts(), p => Yaml.Interpolate(p).EndsWith(":" + composePort, StringComparison.Ordinal));
        Assert.Equal("healthcheck", command.Name);
    }

    /// <summary>An instruction with its continuation lines (a trailing backslash) joined.</summary>
    private string Instruction(string name)
    {
        var start = Array.FindIndex(_lines, l => l.StartsWith(name + " ", StringComparison.Ordinal));
        Assert.True(start >= 0, $"the Dockerfile has no {name}");
        var text = new System.Text.StringBuilder();
        for (var i = start; i < _lines.Length; i++)
        {
            var line = _lines[i].TrimEnd();
            text.Append(line.TrimEnd('\\').Trim()).Append(' ');
            if (!line.EndsWith('\\'))
            {
                break;
            }
        }

        return text.ToString()[(name.Length + 1)..].Trim();
    }

    private static IEnumerable<string> ProjectClosure(string project)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([Path.GetFullPath(project)]);
        while (pending.TryPop(out var next))
        {
            if (!seen.Add(next))
            {
                continue;
            }

            foreach (var reference in XDocument.Load(next).Descendants("ProjectReference"))
            {
                var include = reference.Attribute("Include")!.Value.Replace('\\', '/');
                pending.Push(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(next)!, include)));
            }
        }

        return seen;
    }
}
