using System.Diagnostics;

namespace Sync.Cli.Tests;

/// <summary>A <c>sync run</c> process whose output is read as it comes, so a full pipe never blocks it.</summary>
internal sealed class RunningSync
{
    private readonly StringBuilder _output = new();

    public RunningSync(Process process)
    {
        Process = process;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Process Process { get; }

    public string Output()
    {
        lock (_output)
        {
            return _output.ToString();
        }
    }

    private void Append(string? line)
    {
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }
}
