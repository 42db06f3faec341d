using Sync.Testing.Process;

namespace Sync.Testing.Files;

/// <summary>A temp folder with a copy of examples/, so that each test owns its database and files.</summary>
public sealed class Workspace : IDisposable
{
    public Workspace()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("sync-cli-").FullName;
        Copy(RepoPaths.Examples, Examples);
    }

    public string Directory { get; }

    public string Examples => Path.Combine(Directory, "examples");

    public string Quickstart => Path.Combine(Examples, "quickstart.yaml");

    public string QuickstartDb => Path.Combine(Examples, "quickstart.db");

    public string File(string relative) => Path.Combine(Directory, relative);

    public string Write(string relative, string text)
    {
        var path = File(relative);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllText(path, text);
        return path;
    }

    /// <summary>Writes a config whose source <c>changelog</c> reads the file <paramref name="changelog"/>
    /// and whose sink <c>local</c> is the SQLite database <paramref name="database"/>;
    /// <paramref name="rest"/> is the YAML after them, from <c>materializers:</c> on.</summary>
    public string WriteFileToSqliteConfig(string changelog, string database, string rest, string name = "sync.yaml", string sourceOptions = "") =>
        Write(name, $$"""
            sources:
              changelog: { type: file, path: {{changelog}}{{sourceOptions}} }
            sinks:
              local: { type: sqlite, path: {{database}} }

            """ + rest);

    /// <summary>Writes <c>sync.yaml</c>: the changelog file <c>data/users.jsonl</c> into the one sink
    /// <paramref name="sinkName"/> (<paramref name="sink"/>, a YAML flow mapping) through the materializer
    /// <c>users</c> of <paramref name="topic"/>, whose further options are <paramref name="materializer"/>
    /// (<c>key: value, …</c>).</summary>
    public string WriteUsersFileConfig(string topic, string sinkName, string sink, string materializer) => Write("sync.yaml", $$"""
        sources:
          changelog: { type: file, path: data/users.jsonl }
        sinks:
          {{sinkName}}: {{sink}}
        materializers:
          users: { source: changelog, topics: ['{{topic}}'], sink: {{sinkName}}, {{materializer}} }
        """);

    public Task<ProcessResult> Sync(params string[] args) => SyncProcess.RunAsync(Directory, args);

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);

    private static void Copy(string from, string to)
    {
        System.IO.Directory.CreateDirectory(to);
        foreach (var file in System.IO.Directory.GetFiles(from))
        {
            var name = Path.GetFileName(file);
            if (!name.EndsWith(".db", StringComparison.Ordinal) && !name.Contains(".db-", StringComparison.Ordinal) && !name.EndsWith(".deadletter.jsonl", StringComparison.Ordinal))
            {
                System.IO.File.Copy(file, Path.Combine(to, name));
            }
        }

        foreach (var dir in System.IO.Directory.GetDirectories(from))
        {
            Copy(dir, Path.Combine(to, Path.GetFileName(dir)));
        }
    }
}
