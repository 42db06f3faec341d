namespace Sync.Cli.Commands;

/// <summary><c>sync validate --config F</c>: checks a config without connecting to anything.</summary>
internal static class ValidateCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var config = CommonOptions.Config();
        var command = new Command("validate", "Check a config file: every problem is printed with its line and field; exit 2 when there is any.")
        {
            config,
        };
        command.SetAction(async parse =>
        {
            var file = parse.GetRequiredValue(config);
            try
            {
                ConfigLoader.Load(file.FullName, SyncHost.Components().Types);
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
}
