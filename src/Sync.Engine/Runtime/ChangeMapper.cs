using System.Text.RegularExpressions;

namespace Sync.Engine.Runtime;

/// <summary>The map stage: applies a materializer's <c>columns</c>, <c>metadata</c> and
/// <c>tenant</c> settings to a decoded change. Key columns are always kept; a tenant column joins
/// the key first, so the same key from two tenants gives two rows.</summary>
public sealed class ChangeMapper
{
    private readonly HashSet<string>? _include;
    private readonly HashSet<string>? _exclude;
    private readonly Dictionary<string, string>? _rename;
    private readonly (string Column, string Expression)[] _metadata;
    private readonly TenantOptions? _tenant;
    private readonly Regex? _tenantPattern;
    private readonly Dictionary<RowSchema, RowSchema> _schemas = new(ReferenceEqualityComparer.Instance);

    public ChangeMapper(MaterializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _include = options.Columns?.Include?.ToHashSet(StringComparer.Ordinal);
        _exclude = options.Columns?.Exclude?.ToHashSet(StringComparer.Ordinal);
        _rename = options.Columns?.Rename is { Count: > 0 } rename ? rename : null;
        _metadata = options.Metadata?.Select(m => (m.Key, m.Value)).ToArray() ?? [];
        _tenant = options.Tenant;
        _tenantPattern = _tenant?.Pattern is { } pattern ? new Regex(pattern, RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)) : null;
        IsIdentity = _include is null && _exclude is null && _rename is null && _metadata.Length == 0 && _tenant is null;
    }

    /// <summary>True when the settings change nothing: the stage passes changes through.</summary>
    public bool IsIdentity { get; }

    /// <summary>The change as the sink should see it.</summary>
    /// <exception cref="MapException">The tenant cannot be determined.</exception>
    public ChangeEvent Map(ChangeEvent change)
    {
        ArgumentNullException.ThrowIfNull(change);
        if (IsIdentity)
        {
            return change;
        }

        FieldValue? tenant = _tenant is null ? null : FieldValue.FromString(Tenant(change));
        var keyNames = change.Key.Names;
        return new ChangeEvent
        {
            Op = change.Op,
            Key = change.Op == ChangeOp.Truncate ? change.Key : MapKey(change.Key, tenant),
            Before = change.Before is { } before ? MapImage(before, keyNames, change, tenant) : null,
            After = change.After is { } after ? MapImage(after, keyNames, change, tenant) : null,
            Source = change.Source,
            Origin = change.Origin,
            TsMs = change.TsMs,
        };
    }

    private Row MapKey(Row key, FieldValue? tenant)
    {
        var names = new List<string>(key.Count + 1);
        var values = new List<FieldValue>(key.Count + 1);
        var columns = key.Schema is null ? null : new List<ColumnSchema>(key.Count + 1);
        if (tenant is { } t)
        {
            names.Add(_tenant!.Column);
            values.Add(t);
            columns?.Add(new ColumnSchema(_tenant.Column, LogicalType.String, Optional: false));
        }

        for (var i = 0; i < key.Count; i++)
        {
            var name = Rename(key.Names[i]);
            names.Add(name);
            values.Add(key.Values[i]);
            if (columns is not null && key.Schema!.Find(key.Names[i]) is { } schema)
            {
                columns.Add(schema with { Name = name });
            }
        }

        return new Row([.. names], [.. values], columns is null ? null : new RowSchema(columns));
    }

    private Row MapImage(Row image, string[] keyNames, ChangeEvent change, FieldValue? tenant)
    {
        var names = new List<string>(image.Count + _metadata.Length + 1);
        var values = new List<FieldValue>(names.Capacity);
        if (tenant is { } t)
        {
            names.Add(_tenant!.Column);
            values.Add(t);
        }

        for (var i = 0; i < image.Count; i++)
        {
            var name = image.Names[i];
            var isKey = Array.IndexOf(keyNames, name) >= 0;
            if (!isKey && ((_include is not null && !_include.Contains(name)) || (_exclude is not null && _exclude.Contains(name))))
            {
                continue;
            }

            names.Add(Rename(name));
            values.Add(image.Values[i]);
        }

        foreach (var (column, expression) in _metadata)
        {
            names.Add(column);
            values.Add(Metadata(expression, change));
        }

        return new Row([.. names], [.. values], image.Schema is null ? null : MapSchema(image.Schema));
    }

    private RowSchema MapSchema(RowSchema schema)
    {
        if (_schemas.TryGetValue(schema, out var mapped))
        {
            return mapped;
        }

        var columns = new List<ColumnSchema>(schema.Columns.Count + _metadata.Length + 1);
        if (_tenant is not null)
        {
            columns.Add(new ColumnSchema(_tenant.Column, LogicalType.String, Optional: false));
        }

        foreach (var column in schema.Columns)
        {
            columns.Add(column with { Name = Rename(column.Name) });
        }

        foreach (var (column, expression) in _metadata)
        {
            columns.Add(new ColumnSchema(column, MetadataType(expression), Optional: true));
        }

        mapped = new RowSchema(columns);
        if (_schemas.Count < 1024)
        {
            _schemas[schema] = mapped;
        }

        return mapped;
    }

    private string Rename(string name) => _rename is not null && _rename.TryGetValue(name, out var renamed) ? renamed : name;

    private string Tenant(ChangeEvent change)
    {
        var from = _tenant!.From;
        var value = from switch
        {
            "topic" => change.Origin.Topic,
            "source.db" => change.Source?.Db,
            "source.schema" => change.Source?.Schema,
            _ => change.Source?.Name,
        };
        if (string.IsNullOrEmpty(value))
        {
            throw new MapException($"tenant: the change has no {from}");
        }

        if (_tenantPattern is null)
        {
            return value;
        }

        var match = _tenantPattern.Match(value);
        if (!match.Success || !match.Groups["tenant"].Success || match.Groups["tenant"].Length == 0)
        {
            throw new MapException($"tenant: {from} '{value}' does not match the pattern {_tenantPattern}");
        }

        return match.Groups["tenant"].Value;
    }

    private static LogicalType MetadataType(string expression) => expression switch
    {
        "publishTime" or "eventTime" => LogicalType.TimestampTz,
        "source.lsn" or "source.tsMs" or "tsMs" => LogicalType.Int64,
        _ => LogicalType.String,
    };

    private static FieldValue Metadata(string expression, ChangeEvent change)
    {
        static FieldValue Text(string? value) => value is null ? FieldValue.Null : FieldValue.FromString(value);
        static FieldValue Number(long? value) => value is { } v ? FieldValue.FromInt64(v) : FieldValue.Null;
        static FieldValue Time(DateTimeOffset? value) => value is { } v
            ? FieldValue.FromTimestampTz(v.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture))
            : FieldValue.Null;

        return expression switch
        {
            "topic" => Text(change.Origin.Topic),
            "position" => Text(change.Origin.Position.ToString()),
            "publishTime" => Time(change.Origin.PublishTime),
            "eventTime" => Time(change.Origin.EventTime),
            "op" => Text(change.Op.ToString().ToLowerInvariant()),
            "tsMs" => Number(change.TsMs),
            "source.connector" => Text(change.Source?.Connector),
            "source.name" => Text(change.Source?.Name),
            "source.db" => Text(change.Source?.Db),
            "source.schema" => Text(change.Source?.Schema),
            "source.table" => Text(change.Source?.Table),
            "source.lsn" => Number(change.Source?.Lsn),
            "source.txId" => Text(change.Source?.TxId),
            "source.tsMs" => Number(change.Source?.TsMs),
            _ => Text(change.Origin.Properties.GetValueOrDefault(expression["property.".Length..])),
        };
    }
}

/// <summary>A change that the map stage cannot map (no tenant); it goes to the dead-letter target.</summary>
public sealed class MapException : Exception
{
    public MapException(string message)
        : base(message)
    {
    }

    public MapException()
    {
    }

    public MapException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
