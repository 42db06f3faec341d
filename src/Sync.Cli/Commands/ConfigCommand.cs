namespace Sync.Cli.Commands;

/// <summary><c>sync config schema [--output F]</c>: the JSON Schema of the config, generated from the
/// same option definitions the loader binds with (docs/sync-config.schema.json is its output).</summary>
internal static class ConfigCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var config = new Command("config", "Tools for writing config files.");
        var file = new Option<FileInfo?>("--output", "-o") { Description = "Write the schema to this file instead of standard output." };
        var schema = new Command("schema", "Print the JSON Schema of the config file (draft-07), for editors: reference it with '# yaml-language-server: $schema=PATH' at the top of a config.")
        {
            file,
        };
        schema.SetAction(async parse =>
        {
            var text = ConfigSchema.Generate(SyncHost.Components().Types);
            if (parse.GetValue(file) is not { } target)
            {
                await output.WriteAsync(text);
                return ExitCodes.Ok;
            }

            try
            {
                await File.WriteAllTextAsync(target.FullName, text);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                await error.WriteLineAsync($"error: cannot write the schema to {target.FullName}: {e.Message}");
                return ExitCodes.Failure;
            }

            await output.WriteLineAsync($"wrote {target.FullName}");
            return ExitCodes.Ok;
        });
        config.Subcommands.Add(schema);
        return config;
    }
}
