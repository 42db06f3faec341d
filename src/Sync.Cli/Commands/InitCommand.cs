namespace Sync.Cli.Commands;

/// <summary><c>sync init --source T --sink T [--output F] [--force]</c>: writes a commented starter
/// config, and the config's JSON Schema next to it for editors.</summary>
internal static class InitCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var source = new Option<string>("--source") { Description = "The source type.", Required = true };
        source.AcceptOnlyFromAmong([.. StarterConfig.SourceTypes]);
        var sink = new Option<string>("--sink") { Description = "The sink type.", Required = true };
        sink.AcceptOnlyFromAmong([.. StarterConfig.SinkTypes]);
        var file = new Option<FileInfo>("--output", "-o")
        {
            Description = "The config file to write.",
            DefaultValueFactory = _ => new FileInfo("sync.yaml"),
        };
        var force = new Option<bool>("--force") { Description = "Overwrite the file when it exists." };
        var command = new Command("init", $"Write a commented starter config for a source and a sink, which `sync validate` accepts, and {StarterConfig.SchemaFile} next to it (the schema the config's first line points editors to).")
        {
            source, sink, file, force,
        };
        command.SetAction(async parse =>
        {
            var target = parse.GetValue(file)!;
            if (target.Exists && !parse.GetValue(force))
            {
                await error.WriteLineAsync($"error: {target.FullName} exists; use --force to overwrite it, or --output to write another file");
                return ExitCodes.Usage;
            }

            var schemaPath = Path.Combine(target.DirectoryName!, StarterConfig.SchemaFile);
            try
            {
                Directory.CreateDirectory(target.DirectoryName!);
                await File.WriteAllTextAsync(target.FullName, StarterConfig.Render(parse.GetValue(source)!, parse.GetValue(sink)!));
                await File.WriteAllTextAsync(schemaPath, ConfigSchema.Generate(SyncHost.Components().Types));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                await error.WriteLineAsync($"error: cannot write {target.FullName}: {e.Message}");
                return ExitCodes.Failure;
            }

            await output.WriteLineAsync($"wrote {target.FullName} and {schemaPath}; next: sync validate --config {target.Name}, then sync check --config {target.Name}");
            return ExitCodes.Ok;
        });
        return command;
    }
}
