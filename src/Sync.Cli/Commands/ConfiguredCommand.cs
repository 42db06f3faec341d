namespace Sync.Cli.Commands;

/// <summary>A command that works on a config file: <c>--config</c> is its first option, and
/// <see cref="SetConfiguredAction"/> runs its work on the loaded config, or ends it with
/// <see cref="ExitCodes.Usage"/> once every problem of a config that does not load is printed.</summary>
internal sealed class ConfiguredCommand : Command
{
    public ConfiguredCommand(string name, string description)
        : base(name, description)
    {
        Options.Add(Config);
    }

    public Option<FileInfo> Config { get; } = CommonOptions.Config();

    public void SetConfiguredAction(TextWriter error, Func<ParseResult, SyncConfig, SyncComponents, CancellationToken, Task<int>> work) =>
        SetAction(async (parse, cancellationToken) =>
        {
            var components = SyncHost.Components();
            return await SyncHost.LoadConfigAsync(parse.GetRequiredValue(Config), components, error) is { } loaded
                ? await work(parse, loaded, components, cancellationToken)
                : ExitCodes.Usage;
        });
}
