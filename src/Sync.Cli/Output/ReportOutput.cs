namespace Sync.Cli.Output;

/// <summary>How a command prints its report: JSON with <c>--json</c> (for tools), text otherwise (for people).</summary>
internal static class ReportOutput
{
    public static async Task WriteAsync(TextWriter output, bool json, Func<string> toJson, Action<TextWriter> writeText)
    {
        if (json)
        {
            await output.WriteLineAsync(toJson());
        }
        else
        {
            writeText(output);
        }
    }
}
