using System.Diagnostics;

namespace Sync.Cli.Tests;

/// <summary>A running process's standard error, read line by line as it comes, so that a test can wait
/// for a line while the process still runs.</summary>
internal sealed class StandardErrorReader
{
    private readonly StringBuilder _text = new();

    public StandardErrorReader(Process process) => Completion = Task.Run(async () =>
    {
        while (await process.StandardError.ReadLineAsync() is { } line)
        {
            lock (_text)
            {
                _text.AppendLine(line);
            }
        }
    });

    /// <summary>Done when the process has closed its standard error.</summary>
    public Task Completion { get; }

    public string Text
    {
        get
        {
            lock (_text)
            {
                return _text.ToString();
            }
        }
    }
}
