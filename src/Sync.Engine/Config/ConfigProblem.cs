namespace Sync.Engine.Config;

/// <summary>One thing wrong with a config file: where (file, line, field path) and what.</summary>
public sealed record ConfigProblem(string File, int Line, string Path, string Message)
{
    public override string ToString() => Line > 0 ? $"{File}:{Line}: {Message}" : $"{File}: {Message}";
}

/// <summary>Thrown when a config cannot be used; carries every problem found, not just the first.</summary>
public sealed class ConfigException : Exception
{
    public ConfigException(IReadOnlyList<ConfigProblem> problems)
        : base(string.Join(Environment.NewLine, problems))
    {
        Problems = problems;
    }

    public ConfigException()
        : this([])
    {
    }

    public ConfigException(string message)
        : base(message)
    {
        Problems = [];
    }

    public ConfigException(string message, Exception innerException)
        : base(message, innerException)
    {
        Problems = [];
    }

    public IReadOnlyList<ConfigProblem> Problems { get; } = [];
}

/// <summary>Options types validate themselves purely: no I/O, every problem reported, each message
/// naming the field path and the value, e.g. <c>sinks.local.busyTimeout (-1s) must be positive</c>.</summary>
public interface IValidatable
{
    /// <param name="path">The options' own path in the config, e.g. <c>sinks.local</c>.</param>
    IReadOnlyList<string> Validate(string path);
}

/// <summary>Marks a string option that is a file path: it is resolved against the config file's folder.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class FilePathAttribute : Attribute;

/// <summary>Marks a string option that holds a secret: its value never appears in messages.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class SecretAttribute : Attribute;

/// <summary>Lets an options class be written as a plain value, which then sets the named property:
/// <c>ledger: a.db</c> stands for <c>ledger: { file: a.db }</c>.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class ScalarShorthandAttribute(string property) : Attribute
{
    public string Property { get; } = property;
}
