using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Sync.Testing.Elasticsearch;

/// <summary>
/// Mappings as the fake enforces them: explicit field types checked on every write
/// (https://www.elastic.co/docs/reference/elasticsearch/mapping-reference/field-data-types) and dynamic
/// mapping for new fields (https://www.elastic.co/docs/manage-data/data-store/mapping/dynamic-field-mapping):
/// null adds nothing; true/false -> boolean; an integer -> long; a fraction -> float; an object -> object;
/// a string -> date when <c>date_detection</c> (default true) recognises it, a number when
/// <c>numeric_detection</c> (default false), else text with a <c>keyword</c> sub-field (ignore_above 256).
/// <c>dynamic_templates</c> with <c>match_mapping_type</c> and <c>match</c> are honoured, first match wins;
/// <c>dynamic: false</c> ignores new fields and <c>dynamic: strict</c> rejects them.
/// </summary>
internal static partial class FakeMapping
{
    private static readonly HashSet<string> KnownTypes = new(StringComparer.Ordinal)
    {
        "text", "keyword", "long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float",
        "date", "date_nanos", "boolean", "binary", "object", "nested", "flattened", "unsigned_long", "ip", "wildcard",
    };

    /// <summary>A problem with a mappings body (unknown field type, scaled_float without scaling_factor), or null.</summary>
    public static string? Validate(JsonObject mappings)
    {
        return mappings["properties"] is JsonObject properties ? ValidateProperties(properties, string.Empty) : null;
    }

    private static string? ValidateProperties(JsonObject properties, string prefix)
    {
        foreach (var (name, node) in properties)
        {
            if (node is not JsonObject field)
            {
                return $"Expected map for property [fields] on field [{prefix}{name}]";
            }

            var type = field["type"]?.GetValue<string>() ?? "object";
            if (!KnownTypes.Contains(type))
            {
                return $"No handler for type [{type}] declared on field [{prefix}{name}]";
            }

            if (type == "scaled_float" && field["scaling_factor"] is null)
            {
                return $"Field [scaling_factor] is required for field [{prefix}{name}]";
            }

            if (field["properties"] is JsonObject children && ValidateProperties(children, prefix + name + ".") is { } problem)
            {
                return problem;
            }
        }

        return null;
    }

    /// <summary>Mapping properties with every dotted name turned into object fields: <c>"subfield.text3"</c>
    /// becomes <c>subfield</c> with the property <c>text3</c> (rest-api-spec/src/yamlRestTest/resources/
    /// rest-api-spec/test/indices.put_mapping/10_basic.yml lines 18-19 and the match on
    /// <c>subfield.properties.text3.type</c> in "Test Create and update mapping").</summary>
    public static JsonObject ExpandProperties(JsonObject properties)
    {
        var expanded = new JsonObject();
        foreach (var (name, node) in properties)
        {
            var parts = name.Length > 1 && name.Contains('.', StringComparison.Ordinal) && !name.StartsWith('.') && !name.EndsWith('.') ? name.Split('.') : [name];
            var target = expanded;
            for (var i = 0; i < parts.Length - 1; i++)
            {
                var parent = target[parts[i]] as JsonObject ?? (JsonObject)(target[parts[i]] = new JsonObject());
                target = parent["properties"] as JsonObject ?? (JsonObject)(parent["properties"] = new JsonObject());
            }

            var copy = node?.DeepClone();
            if (copy is JsonObject field && field["properties"] is JsonObject children)
            {
                field["properties"] = ExpandProperties(children);
            }

            if (target[parts[^1]] is JsonObject existing && copy is JsonObject { } incoming && incoming["properties"] is JsonObject more)
            {
                var held = existing["properties"] as JsonObject ?? (JsonObject)(existing["properties"] = new JsonObject());
                foreach (var (k, v) in more.ToList())
                {
                    more.Remove(k);
                    held[k] = v;
                }

                continue;
            }

            target[parts[^1]] = copy;
        }

        return expanded;
    }

    /// <summary>Adds the fields of <paramref name="update"/> to <paramref name="mappings"/>; a changed type is an error.</summary>
    public static string? Merge(JsonObject mappings, JsonObject update)
    {
        var target = (JsonObject)(mappings["properties"] ??= new JsonObject());
        if (update["properties"] is JsonObject properties && MergeProperties(target, ExpandProperties(properties), string.Empty) is { } conflict)
        {
            return conflict;
        }

        foreach (var key in new[] { "dynamic", "date_detection", "numeric_detection", "_meta", "dynamic_templates" })
        {
            if (update[key] is { } value)
            {
                mappings[key] = value.DeepClone();
            }
        }

        return null;
    }

    private static string? MergeProperties(JsonObject target, JsonObject properties, string prefix)
    {
        foreach (var (name, node) in properties)
        {
            var newType = node?["type"]?.GetValue<string>() ?? "object";
            if (target[name] is JsonObject existing)
            {
                var oldType = existing["type"]?.GetValue<string>() ?? "object";
                if (oldType != newType)
                {
                    return $"mapper [{prefix}{name}] cannot be changed from type [{oldType}] to [{newType}]";
                }

                if (newType == "object" && node?["properties"] is JsonObject children
                    && MergeProperties(existing["properties"] as JsonObject ?? (JsonObject)(existing["properties"] = new JsonObject()), children, prefix + name + ".") is { } conflict)
                {
                    return conflict;
                }

                continue;
            }

            target[name] = node?.DeepClone();
        }

        return null;
    }

    /// <summary>Checks a document against the mappings and adds dynamic fields. Returns the error
    /// (type, reason) of the first field that cannot be parsed, or null. Reasons follow the server:
    /// <c>[1:15] failed to parse field [n] of type [long] in document with id '1'. Preview of field's value: 'x'</c>.</summary>
    public static (string Type, string Reason)? Apply(JsonObject mappings, JsonObject document, string id)
    {
        // A field name with dots is an object path: {"a.b": 1} is mapped as object a with sub-field b,
        // exactly as {"a": {"b": 1}} (rest-api-spec/src/yamlRestTest/resources/rest-api-spec/test/
        // indices.put_mapping/10_basic.yml; https://www.elastic.co/docs/reference/elasticsearch/mapping-reference/subobjects,
        // subobjects: true by default). The stored _source keeps the names as sent.
        if (ExpandDots(document, out var expanded) is { } conflict)
        {
            return ("document_parsing_exception", $"[1:2] {conflict}");
        }

        document = expanded;
        var updates = new JsonObject();
        var error = ApplyObject(mappings, (JsonObject)(mappings["properties"] ??= new JsonObject()), document, string.Empty, id, updates);
        if (error is null)
        {
            // Dynamic updates become part of the mappings only when the whole document parsed.
            MergeDynamic((JsonObject)mappings["properties"]!, updates);
        }

        return error;
    }

    /// <summary>The document with every dotted name turned into nested objects; an error when a path
    /// runs through a value that is not an object (a field "a" and a field "a.b").</summary>
    internal static string? ExpandDots(JsonObject document, out JsonObject expanded)
    {
        expanded = new JsonObject();
        foreach (var (name, value) in document)
        {
            var parts = name.Length > 1 && name.Contains('.', StringComparison.Ordinal) && !name.StartsWith('.') && !name.EndsWith('.') ? name.Split('.') : [name];
            var target = expanded;
            for (var i = 0; i < parts.Length - 1; i++)
            {
                if (target[parts[i]] is null)
                {
                    target[parts[i]] = new JsonObject();
                }

                if (target[parts[i]] is not JsonObject next)
                {
                    return $"Could not dynamically add mapping for field [{name}]. Existing mapping for [{string.Join('.', parts[..(i + 1)])}] must be of type object but found a value";
                }

                target = next;
            }

            var leaf = parts[^1];
            var copy = value is JsonObject child
                ? (ExpandDots(child, out var inner) is { } problem ? null : inner)
                : value?.DeepClone();
            if (value is JsonObject && copy is null)
            {
                return $"Could not dynamically add mapping for field [{name}]";
            }

            if (target.ContainsKey(leaf))
            {
                if (target[leaf] is JsonObject existing && copy is JsonObject merging)
                {
                    foreach (var (k, v) in merging.ToList())
                    {
                        merging.Remove(k);
                        existing[k] = v;
                    }

                    continue;
                }

                return $"Could not dynamically add mapping for field [{name}]. Existing mapping for [{name}] must be of type object but found a value";
            }

            target[leaf] = copy;
        }

        return null;
    }

    private static void MergeDynamic(JsonObject target, JsonObject updates)
    {
        foreach (var (name, node) in updates.ToList())
        {
            if (target[name] is JsonObject existing && node is JsonObject { } update && update["properties"] is JsonObject children)
            {
                MergeDynamic((JsonObject)(existing["properties"] ??= new JsonObject()), children);
            }
            else
            {
                updates.Remove(name);
                target[name] = node;
            }
        }
    }

    private static (string Type, string Reason)? ApplyObject(JsonObject root, JsonObject properties, JsonObject document, string prefix, string id, JsonObject updates)
    {
        foreach (var (name, value) in document)
        {
            var path = prefix + name;
            if (name.Length == 0 || name.Trim().Length == 0)
            {
                return ("document_parsing_exception", $"[1:2] field name cannot be an empty string");
            }

            if (properties[name] is JsonObject field)
            {
                if (CheckValue(root, field, value, path, id, updates) is { } problem)
                {
                    return problem;
                }

                continue;
            }

            if (value is null || (value is JsonArray empty && empty.Count == 0))
            {
                continue;
            }

            var dynamic = root["dynamic"]?.ToString() ?? "true";
            if (dynamic == "false")
            {
                continue;
            }

            if (dynamic == "strict")
            {
                return ("strict_dynamic_mapping_exception", $"[1:2] mapping set to strict, dynamic introduction of [{name}] within [_doc] is not allowed");
            }

            var mapping = DynamicMapping(root, name, value);
            if (mapping is null)
            {
                continue;
            }

            if (CheckValue(root, mapping, value, path, id, updates) is { } invalid)
            {
                return invalid;
            }

            updates[name] = mapping;
        }

        return null;
    }

    private static (string Type, string Reason)? CheckValue(JsonObject root, JsonObject field, JsonNode? value, string path, string id, JsonObject updates)
    {
        if (value is JsonArray array)
        {
            foreach (var item in array)
            {
                if (CheckValue(root, field, item, path, id, updates) is { } problem)
                {
                    return problem;
                }
            }

            return null;
        }

        if (value is null)
        {
            return null;
        }

        var type = field["type"]?.GetValue<string>() ?? "object";
        if (type == "object" && field["enabled"]?.GetValue<bool>() == false)
        {
            // enabled: false skips parsing of the field entirely; any JSON is kept in _source.
            return null;
        }

        if (type is "object" or "nested")
        {
            if (value is not JsonObject child)
            {
                return ("document_parsing_exception", $"[1:2] object mapping for [{path}] tried to parse field [{path}] as object, but found a concrete value");
            }

            var childProperties = (JsonObject)(field["properties"] ??= new JsonObject());
            var childUpdates = new JsonObject();
            var problem = ApplyObject(root, childProperties, child, path + ".", id, childUpdates);
            if (problem is null && childUpdates.Count > 0)
            {
                MergeDynamic(childProperties, childUpdates);
            }

            return problem;
        }

        if (type == "flattened")
        {
            // A flattened field maps a whole JSON object; a concrete value is refused.
            return value is JsonObject ? null : Failed(path, type, id, value, "Failed to parse object: expecting token of type [START_OBJECT]");
        }

        if (value is JsonObject)
        {
            return ("document_parsing_exception", $"[1:2] failed to parse field [{path}] of type [{type}] in document with id '{id}'. Preview of field's value: '{{…}}'");
        }

        var element = value.GetValue<JsonElement>();
        switch (type)
        {
            case "long" or "integer" or "short" or "byte" or "unsigned_long":
                return Integral(element, type) ? null : Failed(path, type, id, value, "For input string");
            case "double" or "float" or "half_float" or "scaled_float":
                return Numeric(element, out var d) && double.IsFinite(d) ? null : Failed(path, type, id, value, $"[{type}] supports only finite values");
            case "boolean":
                return element.ValueKind is JsonValueKind.True or JsonValueKind.False || (element.ValueKind == JsonValueKind.String && element.GetString() is "true" or "false" or "")
                    ? null
                    : Failed(path, type, id, value, "Failed to parse value, only [true] or [false] are allowed");
            case "date" or "date_nanos":
                return DateMatches(element, field["format"]?.GetValue<string>() ?? "strict_date_optional_time||epoch_millis")
                    ? null
                    : Failed(path, type, id, value, "failed to parse date field with format");
            case "binary":
                return element.ValueKind == JsonValueKind.String && IsBase64(element.GetString()!) ? null : Failed(path, type, id, value, "Illegal base64 character");
            default:
                return null;
        }
    }

    private static (string Type, string Reason) Failed(string path, string type, string id, JsonNode value, string cause)
    {
        var preview = value.ToJsonString().Trim('"');
        return ("document_parsing_exception", $"[1:2] failed to parse field [{path}] of type [{type}] in document with id '{id}'. Preview of field's value: '{preview}' ({cause})");
    }

    private static JsonObject? DynamicMapping(JsonObject root, string name, JsonNode value)
    {
        while (value is JsonArray array)
        {
            var first = array.FirstOrDefault(v => v is not null);
            if (first is null)
            {
                return null;
            }

            value = first;
        }

        string detected;
        if (value is JsonObject)
        {
            detected = "object";
        }
        else
        {
            var element = value.GetValue<JsonElement>();
            detected = element.ValueKind switch
            {
                JsonValueKind.True or JsonValueKind.False => "boolean",
                JsonValueKind.Number => element.TryGetInt64(out _) ? "long" : "double",
                // The default dynamic_date_formats: strict_date_optional_time, then
                // "yyyy/MM/dd HH:mm:ss||yyyy/MM/dd"; a field detected by the second is mapped with that
                // format plus epoch_millis ("2015/09/02" -> format "yyyy/MM/dd HH:mm:ss||yyyy/MM/dd||epoch_millis",
                // https://www.elastic.co/docs/manage-data/data-store/mapping/dynamic-field-mapping#date-detection).
                JsonValueKind.String when root["date_detection"]?.GetValue<bool>() != false && DateMatches(element, "strict_date_optional_time") => "date",
                JsonValueKind.String when root["date_detection"]?.GetValue<bool>() != false && DateMatches(element, "yyyy/MM/dd HH:mm:ss||yyyy/MM/dd") => "slash date",
                JsonValueKind.String when root["numeric_detection"]?.GetValue<bool>() == true && double.TryParse(element.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out _) => "double",
                _ => "string",
            };
        }

        if (root["dynamic_templates"] is JsonArray templates)
        {
            foreach (var entry in templates.OfType<JsonObject>())
            {
                foreach (var (_, node) in entry)
                {
                    if (node is not JsonObject template)
                    {
                        continue;
                    }

                    var matchType = template["match_mapping_type"]?.GetValue<string>() ?? "*";
                    var match = template["match"]?.GetValue<string>() ?? "*";
                    if ((matchType == "*" || matchType == (detected == "slash date" ? "date" : detected)) && Glob(match, name) && template["mapping"] is JsonObject mapping)
                    {
                        return (JsonObject)mapping.DeepClone();
                    }
                }
            }
        }

        return detected switch
        {
            "object" => new JsonObject { ["properties"] = new JsonObject() },
            "boolean" => new JsonObject { ["type"] = "boolean" },
            "long" => new JsonObject { ["type"] = "long" },

            // A JSON number with a fraction is mapped as float by default.
            "double" => new JsonObject { ["type"] = "float" },
            "date" => new JsonObject { ["type"] = "date" },
            "slash date" => new JsonObject { ["type"] = "date", ["format"] = "yyyy/MM/dd HH:mm:ss||yyyy/MM/dd||epoch_millis" },
            _ => new JsonObject
            {
                ["type"] = "text",
                ["fields"] = new JsonObject { ["keyword"] = new JsonObject { ["type"] = "keyword", ["ignore_above"] = 256 } },
            },
        };
    }

    private static bool Glob(string pattern, string name) =>
        pattern == "*" || Regex.IsMatch(name, "^" + Regex.Escape(pattern).Replace("\\*", ".*", StringComparison.Ordinal) + "$", RegexOptions.None, TimeSpan.FromSeconds(1));

    private static bool Integral(JsonElement element, string type)
    {
        // coerce (default true): numeric strings are accepted, and fractions are truncated.
        string text = element.ValueKind switch
        {
            JsonValueKind.Number => element.GetRawText(),
            JsonValueKind.String => element.GetString()!,
            _ => string.Empty,
        };
        if (!decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
        {
            return false;
        }

        value = decimal.Truncate(value);
        return type switch
        {
            "integer" => value is >= int.MinValue and <= int.MaxValue,
            "short" => value is >= short.MinValue and <= short.MaxValue,
            "byte" => value is >= sbyte.MinValue and <= sbyte.MaxValue,
            "unsigned_long" => value is >= 0 and <= ulong.MaxValue,
            _ => value is >= long.MinValue and <= long.MaxValue,
        };
    }

    private static bool Numeric(JsonElement element, out double value)
    {
        value = 0;
        return element.ValueKind switch
        {
            JsonValueKind.Number => element.TryGetDouble(out value),
            JsonValueKind.String => double.TryParse(element.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out value),
            _ => false,
        };
    }

    /// <summary>Whether a value matches one of the <c>||</c>-separated formats the fake knows:
    /// strict_date, strict_date_optional_time(_nanos), date_optional_time, epoch_millis, epoch_second,
    /// and the default dynamic formats <c>yyyy/MM/dd HH:mm:ss Z</c>, <c>yyyy/MM/dd Z</c>.</summary>
    internal static bool DateMatches(JsonElement element, string formats)
    {
        foreach (var format in formats.Split("||"))
        {
            if (element.ValueKind == JsonValueKind.Number)
            {
                if (format is "epoch_millis" or "epoch_second")
                {
                    return true;
                }

                continue;
            }

            if (element.ValueKind != JsonValueKind.String)
            {
                return false;
            }

            var text = element.GetString()!;
            var ok = format switch
            {
                "strict_date" or "date" or "yyyy-MM-dd" => StrictDate().IsMatch(text) && ValidDate(text),
                "strict_date_optional_time" or "strict_date_optional_time_nanos" or "date_optional_time" =>
                    StrictDateOptionalTime().IsMatch(text) && ValidDate(text) && (format.EndsWith("_nanos", StringComparison.Ordinal) || FractionDigits(text) <= 9),
                "epoch_millis" or "epoch_second" => long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _),
                "yyyy/MM/dd HH:mm:ss Z" or "yyyy/MM/dd Z" => SlashDate().IsMatch(text),
                "yyyy/MM/dd HH:mm:ss" => SlashDateTime().IsMatch(text),
                "yyyy/MM/dd" => SlashDay().IsMatch(text),
                _ => false,
            };
            if (ok)
            {
                return true;
            }
        }

        return false;
    }

    private static int FractionDigits(string text)
    {
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        if (dot < 0)
        {
            return 0;
        }

        var n = 0;
        while (dot + 1 + n < text.Length && char.IsAsciiDigit(text[dot + 1 + n]))
        {
            n++;
        }

        return n;
    }

    private static bool ValidDate(string text)
    {
        var match = DateParts().Match(text);
        if (!match.Success)
        {
            return false;
        }

        var month = int.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
        var day = int.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture);
        return month is >= 1 and <= 12 && day >= 1 && day <= 31;
    }

    private static bool IsBase64(string text)
    {
        var buffer = new byte[text.Length];
        return Convert.TryFromBase64String(text, buffer, out _);
    }

    /// <summary>As <see cref="TermMatches"/> for every term of a <c>terms</c> query at once (the query
    /// matches when any term does), for a single keyword or numeric value; null where that shortcut does
    /// not apply (arrays, text, dates, booleans, <c>ignore_above</c>) and each term must be tried.</summary>
    public static bool? TermSetMatches(JsonObject? field, JsonNode? stored, TermSet terms)
    {
        if (stored is not JsonValue || field is null || field["ignore_above"] is not null)
        {
            return null;
        }

        var value = stored.GetValue<JsonElement>();
        var valueText = value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
        return field["type"]?.GetValue<string>() switch
        {
            "keyword" => terms.Texts.Contains(valueText),
            "long" or "integer" or "short" or "byte" or "double" or "float" or "half_float" or "scaled_float" or "unsigned_long" =>
                decimal.TryParse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) && terms.Numbers.Contains(number),
            _ => null,
        };
    }

    /// <summary>Whether a stored value equals a <c>term</c> query's value, as the field type compares:
    /// keyword exactly (numbers and booleans by their text), numbers numerically, booleans by truth,
    /// text by its lower-cased tokens (the term itself is not analysed), dates by text.</summary>
    public static bool TermMatches(JsonObject? field, JsonNode? stored, JsonElement term)
    {
        if (stored is JsonArray array)
        {
            return array.Any(item => TermMatches(field, item, term));
        }

        if (stored is null or JsonObject || field is null)
        {
            return false;
        }

        var type = field["type"]?.GetValue<string>() ?? "object";
        var value = stored.GetValue<JsonElement>();
        var termText = term.ValueKind == JsonValueKind.String ? term.GetString()! : term.GetRawText();
        var valueText = value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
        switch (type)
        {
            case "long" or "integer" or "short" or "byte" or "double" or "float" or "half_float" or "scaled_float" or "unsigned_long":
                return decimal.TryParse(termText, NumberStyles.Float, CultureInfo.InvariantCulture, out var a)
                    && decimal.TryParse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture, out var b) && a == b;
            case "boolean":
                return string.Equals(termText, valueText, StringComparison.Ordinal);
            case "text":
                return Tokens().Split(valueText.ToLowerInvariant()).Contains(termText, StringComparer.Ordinal);
            case "keyword" or "date" or "date_nanos" or "wildcard" or "ip":
                return field["ignore_above"] is { } above && valueText.Length > above.GetValue<int>()
                    ? false
                    : string.Equals(termText, valueText, StringComparison.Ordinal);
            default:
                return false;
        }
    }

    /// <summary>The mapping of a field path (<c>a.b</c>, or a multi-field such as <c>name.keyword</c>).</summary>
    public static (JsonObject? Field, string SourcePath) FieldOf(JsonObject mappings, string path)
    {
        var properties = mappings["properties"] as JsonObject;
        var parts = path.Split('.');
        JsonObject? field = null;
        var source = new List<string>();
        foreach (var part in parts)
        {
            if (properties?[part] is JsonObject next)
            {
                field = next;
                source.Add(part);
                properties = next["properties"] as JsonObject;
            }
            else if (field?["fields"]?[part] is JsonObject multi)
            {
                field = multi;
                properties = null;
            }
            else
            {
                return (null, path);
            }
        }

        return (field, string.Join('.', source));
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}$")]
    private static partial Regex StrictDate();

    [GeneratedRegex(@"^[+-]?\d{4,}-\d{2}-\d{2}(T\d{2}(:\d{2}(:\d{2}([.,]\d{1,9})?)?)?)?(Z|[+-]\d{2}(:?\d{2})?)?$")]
    private static partial Regex StrictDateOptionalTime();

    [GeneratedRegex(@"^[+-]?(\d{4,})-(\d{2})-(\d{2})")]
    private static partial Regex DateParts();

    [GeneratedRegex(@"^\d{4}/\d{2}/\d{2}( \d{2}:\d{2}:\d{2})? ?(Z|[+-]\d{2}:?\d{2})?$")]
    private static partial Regex SlashDate();

    [GeneratedRegex(@"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}$")]
    private static partial Regex SlashDateTime();

    [GeneratedRegex(@"^\d{4}/\d{2}/\d{2}$")]
    private static partial Regex SlashDay();

    [GeneratedRegex(@"[^\p{L}\p{N}]+")]
    private static partial Regex Tokens();
}

/// <summary>The terms of a <c>terms</c> query prepared for set lookups: each term's text (a string as
/// it is, a number or boolean as its JSON text) and the numbers among them.</summary>
public sealed class TermSet
{
    public HashSet<string> Texts { get; } = new(StringComparer.Ordinal);

    public HashSet<decimal> Numbers { get; } = [];

    public static TermSet Of(JsonArray terms)
    {
        var set = new TermSet();
        foreach (var node in terms)
        {
            var term = node is null ? throw new FormatException("[term] query does not support null values") : node.GetValue<JsonElement>();
            var text = term.ValueKind == JsonValueKind.String ? term.GetString()! : term.GetRawText();
            set.Texts.Add(text);
            if (decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
            {
                set.Numbers.Add(number);
            }
        }

        return set;
    }
}
