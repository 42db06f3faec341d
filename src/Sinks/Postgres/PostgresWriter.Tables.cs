using Npgsql;
using static Sync.Sinks.Postgres.PostgresIdentifiers;

namespace Sync.Sinks.Postgres;

/// <summary>Table creation: the state tables, a target table created or widened from a group's
/// rows, and what the writer knows of a table's columns and key.</summary>
internal sealed partial class PostgresWriter
{
    private async Task CreateStateTablesAsync(string stateSchema, CancellationToken cancellationToken)
    {
        await using var transaction = await _connection.BeginTransactionAsync(cancellationToken);
        await using (var command = new NpgsqlCommand(
            $"""
            SELECT pg_advisory_xact_lock(hashtext('sync.schema'));
            CREATE SCHEMA IF NOT EXISTS {Quote(stateSchema)};
            CREATE TABLE IF NOT EXISTS {_markers} (
              target text NOT NULL,
              key_text text NOT NULL,
              lsn bigint,
              stream text NOT NULL,
              position bigint[] NOT NULL,
              updated_at timestamptz NOT NULL DEFAULT now(),
              PRIMARY KEY (target, key_text));
            CREATE TABLE IF NOT EXISTS {_checkpoints} (
              materializer text NOT NULL,
              stream text NOT NULL,
              position text NOT NULL,
              updated_at timestamptz NOT NULL DEFAULT now(),
              PRIMARY KEY (materializer, stream));
            CREATE TABLE IF NOT EXISTS {_targets} (
              materializer text PRIMARY KEY,
              target text NOT NULL,
              updated_at timestamptz NOT NULL DEFAULT now());
            """, _connection, transaction))
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>The table, created from the group's rows when absent (primary key = key columns, in
    /// key order) and with the group's new columns added under add-columns. Rows that cannot be
    /// written to it (different key, new column under none, a changed type) are rejected; null when none is left.</summary>
    private async Task<TableInfo?> EnsureTableAsync(BatchContext context, Group group, CancellationToken cancellationToken)
    {
        var target = context.Target;
        var first = group.Rows[0].Change;
        var keyNames = first.Key.Names;
        var wanted = new PostgresColumnType[group.Names.Length];
        for (var i = 0; i < wanted.Length; i++)
        {
            wanted[i] = WantedType(group, i);
        }

        var table = await LoadTableAsync(target, cancellationToken);
        if (table is null)
        {
            var sql = new StringBuilder("SELECT pg_advisory_xact_lock(hashtext(").Append(Literal(target.Id)).Append("));\n")
                .Append("CREATE SCHEMA IF NOT EXISTS ").Append(Quote(target.Schema)).Append(";\n")
                .Append("CREATE TABLE IF NOT EXISTS ").Append(target.Qualified).Append(" (");
            for (var i = 0; i < group.Names.Length; i++)
            {
                sql.Append(Quote(group.Names[i])).Append(' ').Append(wanted[i].Name).Append(", ");
            }

            sql.Append(Quote(target.LsnColumn)).Append(" bigint, ")
                .Append(Quote(target.StreamColumn)).Append(" text, ")
                .Append(Quote(target.PositionColumn)).Append(" bigint[], ")
                .Append("PRIMARY KEY (").AppendJoin(", ", keyNames.Select(Quote)).Append(")) WITH (fillfactor = ")
                .Append(target.FillFactor.ToString(CultureInfo.InvariantCulture)).Append(')');
            await ExecuteAsync(sql.ToString(), cancellationToken);
            _tables.Remove(target.Id);
            table = await LoadTableAsync(target, cancellationToken)
                ?? throw new InvalidOperationException($"table {target.Qualified} was not created");
        }

        if (!table.HasVersionColumns(target))
        {
            // A table the operator created: add the bookkeeping columns.
            await ExecuteAsync(
                $"""
                ALTER TABLE {target.Qualified} ADD COLUMN IF NOT EXISTS {Quote(target.LsnColumn)} bigint,
                  ADD COLUMN IF NOT EXISTS {Quote(target.StreamColumn)} text, ADD COLUMN IF NOT EXISTS {Quote(target.PositionColumn)} bigint[]
                """, cancellationToken);
            table.Columns[target.LsnColumn] = PostgresColumnType.BigInt;
            table.Columns[target.StreamColumn] = PostgresColumnType.Text;
            table.Columns[target.PositionColumn] = PostgresColumnType.Parse("bigint[]");
        }

        string? problem = null;
        if (!table.HasKey(keyNames))
        {
            problem = table.KeyColumns.Length == 0
                ? "the existing table has no primary key"
                : $"the table's primary key is ({Describe(table.KeyColumns)})";
        }

        var missing = new List<int>();
        for (var i = 0; i < group.Names.Length && problem is null; i++)
        {
            var name = group.Names[i];
            if (!table.Columns.TryGetValue(name, out var existing))
            {
                missing.Add(i);
            }
            else if (HasSchema(group, name) && !existing.Holds(wanted[i]))
            {
                problem = $"column {Quote(name)} changed type: the table has {existing}, the change has {wanted[i]}; a type change needs a migration";
            }
        }

        if (problem is null && missing.Count > 0)
        {
            if (target.Evolution == SchemaEvolution.None)
            {
                problem = $"column {Quote(group.Names[missing[0]])} is not in the table and schemaEvolution is none";
            }
            else
            {
                var sql = new StringBuilder("ALTER TABLE ").Append(target.Qualified).Append(' ')
                    .AppendJoin(", ", missing.Select(i => $"ADD COLUMN IF NOT EXISTS {Quote(group.Names[i])} {wanted[i].Name}"));
                await ExecuteAsync(sql.ToString(), cancellationToken);
                foreach (var i in missing)
                {
                    table.Columns[group.Names[i]] = wanted[i];
                }
            }
        }

        if (problem is not null)
        {
            foreach (var row in group.Rows)
            {
                context.Reject(row.Change, $"table {target.Qualified} (key {Describe(keyNames)}): {problem}");
            }

            return null;
        }

        return table;
    }

    private static bool HasSchema(Group group, string name) => group.Rows[0].Change.After?.Schema?.Find(name) is not null;

    /// <summary>A column's type: from the row's schema, else from the first non-null value's kind, else text.</summary>
    private static PostgresColumnType WantedType(Group group, int index)
    {
        var name = group.Names[index];
        if (group.Rows[0].Change.After?.Schema?.Find(name) is { } column)
        {
            return PostgresColumnType.FromSchema(column);
        }

        foreach (var row in group.Rows)
        {
            var value = row.Change.After!.Values[index];
            if (!value.IsNull && !value.IsUnavailable)
            {
                return PostgresColumnType.FromKind(value.Kind);
            }
        }

        return PostgresColumnType.Text;
    }

    private async Task<TableInfo?> LoadTableAsync(PostgresTarget target, CancellationToken cancellationToken)
    {
        if (_tables.TryGetValue(target.Id, out var table))
        {
            return table;
        }

        await using var command = Command(
            """
            SELECT a.attname, format_type(a.atttypid, a.atttypmod), coalesce(array_position(i.indkey::int2[], a.attnum) - array_lower(i.indkey::int2[], 1) + 1, 0)
            FROM pg_attribute a LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary
            WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """,
            new NpgsqlParameter<string> { TypedValue = target.Qualified });
        var columns = new Dictionary<string, PostgresColumnType>(StringComparer.Ordinal);
        var keys = new SortedList<int, string>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var name = reader.GetString(0);
                columns[name] = PostgresColumnType.Parse(reader.GetString(1));
                var pk = reader.GetInt32(2);
                if (pk > 0)
                {
                    keys.Add(pk, name);
                }
            }
        }

        table = columns.Count == 0 ? null : new TableInfo(columns, [.. keys.Values]);
        _tables[target.Id] = table;
        return table;
    }

    /// <summary>Forgets the cached shape of every table (after DDL by someone else).</summary>
    public void ForgetTables() => _tables.Clear();

    /// <summary>What the writer knows of one target table.</summary>
    private sealed class TableInfo(Dictionary<string, PostgresColumnType> columns, string[] keyColumns)
    {
        /// <summary>Column name -> type (read from <c>format_type</c>).</summary>
        public Dictionary<string, PostgresColumnType> Columns { get; } = columns;

        /// <summary>Primary key columns in key order.</summary>
        public string[] KeyColumns { get; } = keyColumns;

        public bool HasKey(string[] keyNames) =>
            keyNames.Length == KeyColumns.Length && keyNames.Order(StringComparer.Ordinal).SequenceEqual(KeyColumns.Order(StringComparer.Ordinal), StringComparer.Ordinal);

        public bool HasVersionColumns(PostgresTarget target) =>
            Columns.ContainsKey(target.LsnColumn) && Columns.ContainsKey(target.StreamColumn) && Columns.ContainsKey(target.PositionColumn);
    }
}
