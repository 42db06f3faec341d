using Microsoft.Data.Sqlite;

namespace Sync.Sinks.Sqlite;

/// <summary>Schema creation: the side tables, a target table created or widened from a row image,
/// and what the writer knows of a table (its columns, key and cached commands).</summary>
internal sealed partial class SqliteWriter
{
    /// <summary>Creates the side tables when absent.</summary>
    private static void CreateSchema(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText =
            $"""
            CREATE TABLE IF NOT EXISTS {StateTable} (
              target TEXT NOT NULL,
              key_text TEXT NOT NULL,
              lsn INTEGER,
              stream TEXT NOT NULL,
              position TEXT NOT NULL,
              deleted INTEGER NOT NULL,
              updated_at TEXT NOT NULL,
              PRIMARY KEY (target, key_text)) WITHOUT ROWID;
            CREATE INDEX IF NOT EXISTS {StateTable}_markers ON {StateTable} (updated_at) WHERE deleted = 1;
            CREATE TABLE IF NOT EXISTS {CheckpointTable} (
              materializer TEXT NOT NULL,
              stream TEXT NOT NULL,
              position TEXT NOT NULL,
              updated_at TEXT NOT NULL,
              PRIMARY KEY (materializer, stream)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS {TargetsTable} (
              materializer TEXT PRIMARY KEY,
              target TEXT NOT NULL,
              updated_at TEXT NOT NULL) WITHOUT ROWID;
            """;
        command.ExecuteNonQuery();
    }

    private TableState? LoadTable(string target)
    {
        if (_tables.TryGetValue(target, out var table))
        {
            return table;
        }

        _readTable.Transaction = _transaction;
        _readTable.Parameters[0].Value = target;
        var columns = new Dictionary<string, string>(IdentifierComparer.Instance);
        var keys = new SortedList<long, string>();
        using (var reader = _readTable.ExecuteReader())
        {
            while (reader.Read())
            {
                var name = reader.GetString(0);
                columns[name] = reader.GetString(1).ToUpperInvariant();
                var pk = reader.GetInt64(2);
                if (pk > 0)
                {
                    keys.Add(pk, name);
                }
            }
        }

        table = columns.Count == 0 ? null : new TableState(target, columns, [.. keys.Values]);
        _tables[target] = table;
        return table;
    }

    /// <summary>The table, created from the image when absent (primary key = key columns) and with
    /// the image's new columns added. Null, with the problem, when the table's key differs.</summary>
    private TableState? EnsureTable(string target, string[] keyNames, Row image, out string? problem)
    {
        problem = null;
        var table = LoadTable(target);
        if (table is null)
        {
            var columns = new Dictionary<string, string>(IdentifierComparer.Instance);
            var sql = new StringBuilder("CREATE TABLE ").Append(Quote(target)).Append(" (");
            for (var i = 0; i < image.Count; i++)
            {
                var name = image.Names[i];
                if (!columns.TryAdd(name, ColumnType(image, i)))
                {
                    problem = $"column \"{name}\" appears twice in the row image";
                    return null;
                }

                sql.Append(Quote(name)).Append(' ').Append(columns[name]);
                if (Array.Exists(keyNames, k => IdentifierComparer.Instance.Equals(k, name)))
                {
                    sql.Append(" NOT NULL");
                }

                sql.Append(", ");
            }

            sql.Append("PRIMARY KEY (").AppendJoin(", ", keyNames.Select(Quote)).Append("))");
            Execute(sql.ToString());
            table = new TableState(target, columns, [.. keyNames]);
            _tables[target] = table;
            return table;
        }

        if (!table.HasKey(keyNames))
        {
            problem = table.KeyColumns.Length == 0
                ? "the existing table has no primary key"
                : $"the table's primary key is ({Describe(table.KeyColumns)})";
            return null;
        }

        for (var i = 0; i < image.Count; i++)
        {
            var name = image.Names[i];
            if (!table.Columns.ContainsKey(name))
            {
                // A column that appears mid-stream; SQLite adds it as a nullable column with no default.
                var type = ColumnType(image, i);
                Execute($"ALTER TABLE {table.QuotedName} ADD COLUMN {Quote(name)} {type}");
                table.Columns[name] = type;
            }
        }

        return table;
    }

    /// <summary>The declared SQLite type of a column: from the schema when the row has one, else from the value.
    /// Exact decimals are TEXT on purpose: a NUMERIC or DECIMAL column has NUMERIC affinity, and SQLite
    /// converts such text to an 8-byte REAL when it looks like a number with a fraction or more digits
    /// than an INTEGER holds, silently rounding <c>12345678901234567890.123456789</c>. TEXT affinity keeps every digit.</summary>
    internal static string ColumnType(Row image, int index)
    {
        if (image.Schema?.Find(image.Names[index]) is { } column)
        {
            return column.Type switch
            {
                LogicalType.Boolean => "BOOLEAN",
                LogicalType.Int8 or LogicalType.Int16 or LogicalType.Int32 or LogicalType.Int64 => "INTEGER",
                LogicalType.Float32 or LogicalType.Float64 => "REAL",
                LogicalType.Bytes or LogicalType.Bits => "BLOB",
                _ => "TEXT",
            };
        }

        return image.Values[index].Kind switch
        {
            ValueKind.Boolean => "BOOLEAN",
            ValueKind.Int64 => "INTEGER",
            ValueKind.Double => "REAL",
            ValueKind.Bytes => "BLOB",
            _ => "TEXT",
        };
    }

    /// <summary>Forgets the tables' shapes (absence included) when the database's schema changed since
    /// this connection last looked: another writer of the file (a second <c>sync run</c>, a backfill)
    /// may have created a table or added a column meanwhile. SQLite bumps <c>PRAGMA schema_version</c>
    /// with every schema change (sqlite.org/pragma.html#pragma_schema_version), and the transaction is
    /// not deferred (Microsoft.Data.Sqlite's BeginTransaction() is BEGIN IMMEDIATE), so it holds the
    /// write lock and the schema read now stays true until it commits.</summary>
    private void ForgetTablesChangedElsewhere()
    {
        using var command = _connection.CreateCommand();
        command.Transaction = _transaction;
        command.CommandText = "PRAGMA schema_version";
        var version = (long)command.ExecuteScalar()!;
        if (version != _schemaVersion)
        {
            ForgetTables();
            _schemaVersion = version;
        }
    }

    private void ForgetTables()
    {
        foreach (var table in _tables.Values)
        {
            table?.Dispose();
        }

        _tables.Clear();
    }

    /// <summary>What the writer knows of one target table, and its cached commands.</summary>
    private sealed class TableState(string name, Dictionary<string, string> columns, string[] keyColumns) : IDisposable
    {
        private readonly Dictionary<string[], SqliteCommand> _upserts = new(ColumnNamesComparer.Instance);
        private SqliteCommand? _delete;
        private SqliteCommand? _exists;
        private readonly Dictionary<string, SqliteCommand> _keepingUpserts = new(StringComparer.Ordinal);

        public string QuotedName { get; } = Quote(name);

        /// <summary>Column name -> declared type (upper case), compared as SQLite compares identifiers.</summary>
        public Dictionary<string, string> Columns { get; } = columns;

        /// <summary>Primary key columns in key order.</summary>
        public string[] KeyColumns { get; } = keyColumns;

        public bool HasKey(string[] keyNames) =>
            keyNames.Length == KeyColumns.Length && keyNames.Order(IdentifierComparer.Instance).SequenceEqual(KeyColumns.Order(IdentifierComparer.Instance), IdentifierComparer.Instance);

        public int KeyOrdinal(string name) => Array.FindIndex(KeyColumns, k => IdentifierComparer.Instance.Equals(k, name));

        /// <summary>The upsert for this column set, built and prepared on first use:
        /// <c>INSERT … ON CONFLICT (pk) DO UPDATE SET</c> every non-key column.</summary>
        /// <remarks>With <paramref name="kept"/>, the columns marked there are left out of <c>DO UPDATE</c>:
        /// a stored row keeps their values (the change's value is unavailable); a new row gets the bound null.</remarks>
        public SqliteCommand Upsert(string[] names, SqliteConnection connection, bool[]? kept = null)
        {
            string? signature = null;
            SqliteCommand? command;
            if (kept is null)
            {
                if (_upserts.TryGetValue(names, out command))
                {
                    return command;
                }
            }
            else
            {
                signature = string.Join('\u0001', names) + '\u0002' + new string(kept.Select(k => k ? '1' : '0').ToArray());
                if (_keepingUpserts.TryGetValue(signature, out command))
                {
                    return command;
                }
            }

            command = connection.CreateCommand();
            command.CommandText = UpsertSql(QuotedName, KeyColumns, names, kept);
            for (var i = 0; i < names.Length; i++)
            {
                command.Parameters.Add(new SqliteParameter("$p" + i.ToString(CultureInfo.InvariantCulture), DBNull.Value));
            }

            if (signature is null)
            {
                _upserts[(string[])names.Clone()] = command;
            }
            else
            {
                _keepingUpserts[signature] = command;
            }

            return command;
        }

        /// <summary><c>SELECT 1 … WHERE</c> every key column equals its parameter (parameters in key order).</summary>
        public SqliteCommand ExistsCommand(SqliteConnection connection) => _exists ??= ByKeyCommand(connection, "SELECT 1 FROM ");

        /// <summary><c>DELETE … WHERE</c> every key column equals its parameter (parameters in key order).</summary>
        public SqliteCommand DeleteCommand(SqliteConnection connection) => _delete ??= ByKeyCommand(connection, "DELETE FROM ");

        private SqliteCommand ByKeyCommand(SqliteConnection connection, string statement)
        {
            var command = connection.CreateCommand();
            command.CommandText = ByKeySql(statement, QuotedName, KeyColumns);
            for (var i = 0; i < KeyColumns.Length; i++)
            {
                command.Parameters.Add(new SqliteParameter("$k" + i.ToString(CultureInfo.InvariantCulture), DBNull.Value));
            }

            return command;
        }

        public void Dispose()
        {
            foreach (var command in _upserts.Values)
            {
                command.Dispose();
            }

            _upserts.Clear();
            foreach (var command in _keepingUpserts.Values)
            {
                command.Dispose();
            }

            _keepingUpserts.Clear();
            _delete?.Dispose();
            _delete = null;
            _exists?.Dispose();
            _exists = null;
        }
    }
}
