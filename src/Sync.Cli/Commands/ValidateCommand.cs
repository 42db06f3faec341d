using Sync.Engine.Checks;

namespace Sync.Cli.Commands;

/// <summary><c>sync validate --config F</c>: checks a config without connecting to anything.</summary>
internal static class ValidateCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var command = new ConfiguredCommand("validate", "Check a config file: every problem is printed with its line and field; exit 2 when there is any.");
        command.SetAction(async parse =>
        {
            var file = parse.GetRequiredValue(command.Config);
            try
            {
                var components = SyncHost.Components();
                var loaded = ConfigLoader.Load(file.FullName, components.Types);
                foreach (var warning in Advice(loaded, components))
                {
                    await error.WriteLineAsync(warning);
                }

                await output.WriteLineAsync("ok");
                return ExitCodes.Ok;
            }
            catch (ConfigException e)
            {
                await SyncHost.PrintProblemsAsync(error, e);
                return ExitCodes.Usage;
            }
        });
        return command;
    }

    /// <summary>The warnings of every sink type that gives offline advice (<see cref="IConfigAdvice"/>),
    /// in file order: the config is valid, but a setting works against what the sink is for.</summary>
    private static IEnumerable<string> Advice(SyncConfig config, SyncComponents components) =>
        from sink in config.Sinks.Values.OrderBy(s => s.Line)
        where components.Sinks.GetValueOrDefault(sink.Type) is IConfigAdvice
        let writers = config.Materializers.Where(m => m.Value.Sink == sink.Name).ToList()
        from finding in ((IConfigAdvice)components.Sinks[sink.Type]).Advise(new CheckScope(sink, writers, config))
        select $"warning: sinks.{sink.Name}: {finding.Message}; {finding.Action}";
}
