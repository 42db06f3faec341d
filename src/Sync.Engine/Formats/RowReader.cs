namespace Sync.Engine.Formats;

/// <summary>Reads JSON objects into <see cref="Row"/>s.</summary>
internal static class RowReader
{
    /// <summary>Reads a row image. With a plan, the row has the plan's columns in schema order (a
    /// field missing from the JSON is null) and shares the plan's <see cref="RowSchema"/>; a JSON
    /// property the schema does not declare is an error. Without a plan, properties keep their
    /// order and values stay as they are.</summary>
    /// <remarks>With <paramref name="unavailable"/>, a value that is the connector's placeholder for an
    /// unchanged TOASTed column becomes <see cref="FieldValue.Unavailable"/> (row images only, never keys).</remarks>
    public static Row Read(JsonElement obj, RowPlan? plan, string path, UnavailableValues? unavailable = null)
    {
        if (plan is null)
        {
            return ReadSchemaless(obj, path);
        }

        var fields = plan.Fields;
        var values = new FieldValue[fields.Length];
        var next = 0;
        foreach (var property in obj.EnumerateObject())
        {
            int i;
            if (next < fields.Length && property.NameEquals(fields[next].Name))
            {
                i = next;
            }
            else
            {
                var name = Name(property, path);
                i = plan.IndexOf(name);
                if (i < 0)
                {
                    throw new DecodeException($"{JsonInput.Child(path, name)}: field is not in the schema");
                }
            }

            values[i] = unavailable is not null && unavailable.Matches(property.Value, fields[i])
                ? FieldValue.Unavailable
                : FieldReader.Read(property.Value, fields[i], new FieldPath(path, fields[i].Name));
            next = i + 1;
        }

        return new Row((string[])plan.Names.Clone(), values, plan.Schema);
    }

    /// <summary>Reads a key object: a column the image plan declares is typed by it (so that a key
    /// sent without its own schema equals the key columns of the image); others stay as they are.</summary>
    public static Row ReadKey(JsonElement obj, RowPlan? imagePlan, string path)
    {
        if (imagePlan is null)
        {
            return ReadSchemaless(obj, path);
        }

        var count = obj.GetPropertyCount();
        var names = new string[count];
        var values = new FieldValue[count];
        var typed = true;
        var i = 0;
        foreach (var property in obj.EnumerateObject())
        {
            var name = Name(property, path);
            var field = imagePlan.Find(name);
            names[i] = name;
            if (field is null)
            {
                typed = false;
                values[i] = FieldReader.ReadSchemaless(property.Value, new FieldPath(path, name));
            }
            else
            {
                values[i] = FieldReader.Read(property.Value, field, new FieldPath(path, name));
            }

            i++;
        }

        return new Row(names, values, typed ? imagePlan.ProjectionSchema(names) : null);
    }

    /// <summary>Takes <paramref name="columns"/> from a row image (for messages without a key).</summary>
    public static Row Project(Row image, IReadOnlyList<string> columns, RowPlan? plan, string imagePath)
    {
        var names = new string[columns.Count];
        var values = new FieldValue[columns.Count];
        for (var i = 0; i < columns.Count; i++)
        {
            var index = image.IndexOf(columns[i]);
            if (index < 0)
            {
                throw new DecodeException($"{imagePath}: key column '{columns[i]}' (keyColumns) is not in the row");
            }

            names[i] = columns[i];
            values[i] = image.Values[index];
        }

        return new Row(names, values, image.Schema is not null ? plan?.ProjectionSchema(names) : null);
    }

    private static Row ReadSchemaless(JsonElement obj, string path)
    {
        var count = obj.GetPropertyCount();
        var names = new string[count];
        var values = new FieldValue[count];
        var i = 0;
        foreach (var property in obj.EnumerateObject())
        {
            var name = Name(property, path);
            names[i] = name;
            values[i] = FieldReader.ReadSchemaless(property.Value, new FieldPath(path, name));
            i++;
        }

        return new Row(names, values);
    }

    private static string Name(JsonProperty property, string path)
    {
        try
        {
            return property.Name;
        }
        catch (InvalidOperationException)
        {
            throw new DecodeException($"{JsonInput.Child(path, "?")}: property name is not valid Unicode text");
        }
    }
}
