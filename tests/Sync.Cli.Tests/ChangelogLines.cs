namespace Sync.Cli.Tests;

/// <summary>One line of a file changelog: a change to a row keyed by <c>id</c> with a <c>name</c>,
/// at a source position <c>lsn</c>.</summary>
internal static class ChangelogLines
{
    public static string Line(string topic, int id, string op, string name, int lsn) =>
        $$$$"""{"topic":"{{{{topic}}}}","key":{"id":{{{{id}}}}},"value":{"op":"{{{{op}}}}","after":{"id":{{{{id}}}},"name":"{{{{name}}}}"},"source":{"lsn":{{{{lsn}}}}}}}""" + "\n";
}
