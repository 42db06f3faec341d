using Spectre.Console;

namespace Sync.Cli.Output;

/// <summary>A Spectre console that writes plain text to a writer: no colours, no escape codes, no
/// prompts, so that tables read the same in a terminal, a log and a snapshot.</summary>
internal static class PlainConsole
{
    public static IAnsiConsole Create(TextWriter output, int width)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(output),
        });
        console.Profile.Width = width;
        return console;
    }
}
