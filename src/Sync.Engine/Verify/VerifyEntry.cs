namespace Sync.Engine.Verify;

/// <summary>What one side of a verification says of a key.</summary>
internal enum EntryState : byte
{
    /// <summary>No row: a delete in the log, a delete marker in the sink (with its version).</summary>
    Absent,

    /// <summary>A row, with its values.</summary>
    Row,

    /// <summary>The log's latest change of the key belongs to a subject the suppression ledger erased.</summary>
    Suppressed,
}

/// <summary>One key's state on one side, as it is spilled to disk and read back, one partition at a time.</summary>
internal sealed class VerifyEntry
{
    public required ulong Hash { get; init; }

    public required string Canonical { get; init; }

    /// <summary>The key as JSON (shown with <c>--show-keys</c> only, and used to find the key again for a repair).</summary>
    public required string KeyJson { get; init; }

    public required EntryState State { get; init; }

    public ChangeVersion? Version { get; init; }

    public Row? Image { get; init; }

    public static VerifyEntry Of(Row key, EntryState state, ChangeVersion? version, Row? image)
    {
        var canonical = VerifyKey.Canonical(key);
        return new VerifyEntry { Hash = VerifyKey.Hash(canonical), Canonical = canonical, KeyJson = key.ToJson(), State = state, Version = version, Image = image };
    }

    public void Write(BinaryWriter writer)
    {
        writer.Write(Hash);
        writer.Write(Canonical);
        writer.Write(KeyJson);
        writer.Write((byte)State);
        writer.Write(Version is not null);
        if (Version is { } version)
        {
            writer.Write(version.Lsn is not null);
            writer.Write(version.Lsn ?? 0);
            writer.Write(version.Stream);
            writer.Write(version.Position.Ledger);
            writer.Write(version.Position.Entry);
            writer.Write(version.Position.BatchIndex);
        }

        writer.Write(Image?.Count ?? -1);
        if (Image is { } image)
        {
            for (var i = 0; i < image.Count; i++)
            {
                writer.Write(image.Names[i]);
                WriteValue(writer, image.Values[i]);
            }
        }
    }

    public static VerifyEntry Read(BinaryReader reader)
    {
        var hash = reader.ReadUInt64();
        var canonical = reader.ReadString();
        var keyJson = reader.ReadString();
        var state = (EntryState)reader.ReadByte();
        ChangeVersion? version = null;
        if (reader.ReadBoolean())
        {
            var hasLsn = reader.ReadBoolean();
            var lsn = reader.ReadInt64();
            version = new ChangeVersion(hasLsn ? lsn : null, reader.ReadString(), new StreamPosition(reader.ReadInt64(), reader.ReadInt64(), reader.ReadInt32()));
        }

        Row? image = null;
        var count = reader.ReadInt32();
        if (count >= 0)
        {
            var names = new string[count];
            var values = new FieldValue[count];
            for (var i = 0; i < count; i++)
            {
                names[i] = reader.ReadString();
                values[i] = ReadValue(reader);
            }

            image = new Row(names, values);
        }

        return new VerifyEntry { Hash = hash, Canonical = canonical, KeyJson = keyJson, State = state, Version = version, Image = image };
    }

    private static void WriteValue(BinaryWriter writer, FieldValue value)
    {
        writer.Write((byte)value.Kind);
        writer.Write((byte)value.Unit);
        switch (value.Kind)
        {
            case ValueKind.Null or ValueKind.Unavailable:
                break;
            case ValueKind.Boolean or ValueKind.Int64 or ValueKind.Double or ValueKind.Date or ValueKind.Time or ValueKind.Timestamp or ValueKind.Interval:
                writer.Write(value.AsInt64);
                break;
            case ValueKind.Bytes:
                writer.Write(value.AsBytes.Length);
                writer.Write(value.AsBytes);
                break;
            default:
                writer.Write(value.AsText);
                break;
        }
    }

    private static FieldValue ReadValue(BinaryReader reader)
    {
        var kind = (ValueKind)reader.ReadByte();
        var unit = (TimeUnit)reader.ReadByte();
        return kind switch
        {
            ValueKind.Null => FieldValue.Null,
            ValueKind.Unavailable => FieldValue.Unavailable,
            ValueKind.Boolean => FieldValue.FromBoolean(reader.ReadInt64() != 0),
            ValueKind.Int64 => FieldValue.FromInt64(reader.ReadInt64()),
            ValueKind.Double => FieldValue.FromDouble(BitConverter.Int64BitsToDouble(reader.ReadInt64())),
            ValueKind.Date => FieldValue.FromDate((int)reader.ReadInt64()),
            ValueKind.Time => FieldValue.FromTime(reader.ReadInt64()),
            ValueKind.Timestamp => FieldValue.FromTimestamp(reader.ReadInt64(), unit),
            ValueKind.Interval => FieldValue.FromInterval(reader.ReadInt64()),
            ValueKind.Bytes => FieldValue.FromBytes(reader.ReadBytes(reader.ReadInt32())),
            ValueKind.String => FieldValue.FromString(reader.ReadString()),
            ValueKind.Decimal => FieldValue.FromDecimalText(reader.ReadString()),
            ValueKind.TimestampTz => FieldValue.FromTimestampTz(reader.ReadString()),
            ValueKind.TimeTz => FieldValue.FromTimeTz(reader.ReadString()),
            ValueKind.Uuid => FieldValue.FromUuid(reader.ReadString()),
            ValueKind.Json => FieldValue.FromJson(reader.ReadString()),
            _ => throw new InvalidDataException($"spill file holds an unknown value kind {kind}"),
        };
    }
}
