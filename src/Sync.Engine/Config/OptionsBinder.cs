using System.ComponentModel.DataAnnotations;
using System.Reflection;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Sync.Engine.Config;

/// <summary>Binds a YAML mapping onto an options type: each settable public property is a key
/// (camelCase of its name); unknown keys, wrong types and missing required keys are problems
/// with file, line and field path. Values may hold <c>${ENV}</c> or <c>${ENV:-default}</c>.</summary>
public sealed partial class OptionsBinder
{
    private readonly string _file;
    private readonly string _baseDirectory;
    private readonly List<ConfigProblem> _problems;
    private readonly Func<string, string?> _environment;

    public OptionsBinder(string file, string baseDirectory, List<ConfigProblem> problems, Func<string, string?> environment)
    {
        _file = file;
        _baseDirectory = baseDirectory;
        _problems = problems;
        _environment = environment;
    }

    /// <summary>Line of each bound key path, so that problems found later by validation can name it.</summary>
    public Dictionary<string, int> Lines { get; } = new(StringComparer.Ordinal);

    public void Problem(YamlNode? node, string path, string message) =>
        _problems.Add(new ConfigProblem(_file, Line(node), path, message));

    public void Problem(int line, string path, string message) => _problems.Add(new ConfigProblem(_file, line, path, message));

    public static int Line(YamlNode? node) => node is null ? 0 : (int)node.Start.Line;

    /// <summary>Binds <paramref name="node"/> onto a new <typeparamref name="T"/>.</summary>
    public T Bind<T>(YamlNode node, string path, params string[] ignoredKeys)
        where T : new() => (T)Bind(typeof(T), node, path, ignoredKeys);

    public object Bind(Type type, YamlNode node, string path, params string[] ignoredKeys)
    {
        var options = Activator.CreateInstance(type)!;
        Lines[path] = Line(node);
        var properties = Properties(type);
        IEnumerable<(string Key, YamlNode KeyNode, YamlNode ValueNode)> children;
        if (node is YamlMappingNode mapping)
        {
            children = mapping.Children.Select(c => (((YamlScalarNode)c.Key).Value ?? string.Empty, c.Key, c.Value));
        }
        else if (node is YamlScalarNode && type.GetCustomAttribute<ScalarShorthandAttribute>() is { } shorthand)
        {
            children = [(properties.Single(p => p.Value.Name == shorthand.Property).Key, node, node)];
        }
        else
        {
            Problem(node, path, $"{path} must be a mapping of keys to values");
            return options;
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var converted = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (key, keyNode, valueNode) in children)
        {
            var keyPath = $"{path}.{key}";
            if (ignoredKeys.Contains(key))
            {
                continue;
            }

            if (!properties.TryGetValue(key, out var property))
            {
                var known = string.Join(", ", properties.Keys.Concat(ignoredKeys).Order(StringComparer.Ordinal));
                Problem(keyNode, keyPath, $"{keyPath} is not a known key (known: {known})");
                continue;
            }

            seen.Add(key);
            Lines[keyPath] = Line(keyNode);
            if (TryConvert(property, valueNode, keyPath, out var value))
            {
                property.SetValue(options, value);
                converted.Add(key);
            }
        }

        foreach (var (key, property) in properties)
        {
            if (property.GetCustomAttribute<RequiredAttribute>() is null)
            {
                continue;
            }

            if (!seen.Contains(key))
            {
                Problem(node, $"{path}.{key}", $"{path}.{key} is required");
            }
            else if (converted.Contains(key) && property.GetValue(options) is string { Length: 0 } or null)
            {
                Problem(Lines.GetValueOrDefault($"{path}.{key}"), $"{path}.{key}", $"{path}.{key} must not be empty");
            }
        }

        if (options is IValidatable validatable)
        {
            foreach (var message in validatable.Validate(path))
            {
                Problem(LineOf(message, path), FieldOf(message, path), message);
            }
        }

        return options;
    }

    /// <summary>Reads a scalar as text with environment substitution, or reports a problem.</summary>
    public string? Scalar(YamlNode node, string path)
    {
        if (node is not YamlScalarNode scalar)
        {
            Problem(node, path, $"{path} must be a single value");
            return null;
        }

        return Substitute(scalar, path);
    }

    public static Dictionary<string, PropertyInfo> Properties(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite && p.SetMethod!.IsPublic)
            .ToDictionary(p => KeyOf(p), StringComparer.Ordinal);

    public static string KeyOf(PropertyInfo property) => char.ToLowerInvariant(property.Name[0]) + property.Name[1..];

    private int LineOf(string message, string path)
    {
        // The line of the field, else of the nearest enclosing key that has one.
        for (var field = FieldOf(message, path); field.Length >= path.Length; field = field[..Math.Max(field.LastIndexOf('.'), 0)])
        {
            if (field.EndsWith(']') && field.LastIndexOf('[') is var bracket and > 0)
            {
                // A list item (urls[0]) is reported on the line of its list's key.
                field = field[..bracket];
            }

            if (Lines.TryGetValue(field, out var line))
            {
                return line;
            }

            if (field.LastIndexOf('.') < 0)
            {
                break;
            }
        }

        return Lines.GetValueOrDefault(path);
    }

    private static string FieldOf(string message, string path)
    {
        var end = message.IndexOf(' ', StringComparison.Ordinal);
        var first = (end < 0 ? message : message[..end]).TrimEnd(':');
        return first.StartsWith(path, StringComparison.Ordinal) ? first : path;
    }

    private string? Substitute(YamlScalarNode scalar, string path)
    {
        var text = scalar.Value;
        if (text is null || !text.Contains("${", StringComparison.Ordinal))
        {
            return text;
        }

        var missing = false;
        var result = EnvReference().Replace(text, match =>
        {
            var name = match.Groups["name"].Value;
            var value = _environment(name);
            if (value is not null)
            {
                return value;
            }

            if (match.Groups["default"].Success)
            {
                return match.Groups["default"].Value;
            }

            Problem(scalar, path, $"{path}: environment variable {name} is not set");
            missing = true;
            return string.Empty;
        });
        return missing ? null : result;
    }

    private bool TryConvert(PropertyInfo property, YamlNode node, string path, out object? value)
    {
        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        value = null;
        if (type == typeof(List<string>) || type == typeof(IReadOnlyList<string>))
        {
            if (node is YamlScalarNode single && !string.IsNullOrEmpty(single.Value))
            {
                value = new List<string> { Substitute(single, path) ?? string.Empty };
                return true;
            }

            if (node is not YamlSequenceNode sequence)
            {
                Problem(node, path, $"{path} must be a list");
                return false;
            }

            var list = new List<string>();
            var i = 0;
            foreach (var item in sequence)
            {
                var text = Scalar(item, $"{path}[{i++}]");
                if (text is not null)
                {
                    list.Add(text);
                }
            }

            value = list;
            return true;
        }

        if (type == typeof(Dictionary<string, string>))
        {
            if (node is not YamlMappingNode map)
            {
                Problem(node, path, $"{path} must be a mapping of names to values");
                return false;
            }

            var dictionary = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (keyNode, valueNode) in map.Children)
            {
                var name = ((YamlScalarNode)keyNode).Value ?? string.Empty;
                if (Scalar(valueNode, $"{path}.{name}") is { } text)
                {
                    dictionary[name] = text;
                }
            }

            value = dictionary;
            return true;
        }

        if ((node is YamlMappingNode || (node is YamlScalarNode && type.GetCustomAttribute<ScalarShorthandAttribute>() is not null)) && type.IsClass && type != typeof(string) && type.GetConstructor(Type.EmptyTypes) is not null)
        {
            value = Bind(type, node, path);
            return true;
        }

        var raw = Scalar(node, path);
        if (raw is null)
        {
            return false;
        }

        var shown = property.GetCustomAttribute<SecretAttribute>() is null ? raw : "***";
        if (type == typeof(string))
        {
            var isFilePath = property.GetCustomAttribute<FilePathAttribute>() is not null;
            if (isFilePath && raw.Trim().Length == 0)
            {
                // An empty path would resolve to the config's folder and fail only at run time.
                Problem(node, path, $"{path} ('{raw}') must not be empty: it names a file");
                return false;
            }

            value = isFilePath ? System.IO.Path.GetFullPath(raw, _baseDirectory) : raw;
            return true;
        }

        if (type == typeof(int) && int.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i32))
        {
            value = i32;
            return true;
        }

        if (type == typeof(long) && long.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i64))
        {
            value = i64;
            return true;
        }

        if (type == typeof(bool) && bool.TryParse(raw, out var flag))
        {
            value = flag;
            return true;
        }

        if (type == typeof(TimeSpan) && Durations.TryParse(raw, out var duration))
        {
            value = duration;
            return true;
        }

        if (type.IsEnum)
        {
            var name = raw.Replace("-", string.Empty, StringComparison.Ordinal).Replace("_", string.Empty, StringComparison.Ordinal);
            if (Enum.TryParse(type, name, ignoreCase: true, out var parsed) && !int.TryParse(raw, out _))
            {
                value = parsed;
                return true;
            }

            var names = string.Join(", ", Enum.GetNames(type).Select(n => char.ToLowerInvariant(n[0]) + n[1..]));
            Problem(node, path, $"{path} ({shown}) must be one of: {names}");
            return false;
        }

        var expected = type == typeof(TimeSpan) ? "a duration such as 250ms, 5s, 10m, 2h or 7d"
            : type == typeof(bool) ? "true or false"
            : type == typeof(int) || type == typeof(long) ? "a whole number"
            : type.Name;
        Problem(node, path, $"{path} ({shown}) must be {expected}");
        return false;
    }

    [GeneratedRegex(@"\$\{(?<name>[A-Za-z_][A-Za-z0-9_]*)(:-(?<default>[^}]*))?\}")]
    private static partial Regex EnvReference();
}
