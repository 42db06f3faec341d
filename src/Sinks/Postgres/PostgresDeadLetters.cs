using Npgsql;
using NpgsqlTypes;

namespace Sync.Sinks.Postgres;

/// <summary>The dead-letter table <c>&lt;stateSchema&gt;.dead_letters</c> (<c>deadLetterTarget: table</c>):
/// one row per letter, the message's value bytes kept exactly in a <c>bytea</c>. Created on first
/// use; letters of a batch are inserted in the batch's transaction.</summary>
internal sealed class PostgresDeadLetters(string stateSchema)
{
    private static readonly JsonSerializerOptions Json = new();
    private bool _created;

    public string Table { get; } = PostgresIdentifiers.Qualified(stateSchema, "dead_letters");

    /// <summary>Creates the table when absent (once per connection; the caller forgets after a rollback).</summary>
    public async Task EnsureAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, CancellationToken cancellationToken)
    {
        if (_created)
        {
            return;
        }

        await using var command = new NpgsqlCommand(
            $"""
            SELECT pg_advisory_xact_lock(hashtext('sync.dead_letters'));
            CREATE TABLE IF NOT EXISTS {Table} (
              id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
              materializer text NOT NULL,
              stage text NOT NULL,
              topic text,
              position text NOT NULL,
              key text,
              key_base64 boolean NOT NULL DEFAULT false,
              payload bytea,
              properties jsonb NOT NULL DEFAULT '{"{}"}',
              publish_time timestamptz,
              event_time timestamptz,
              location text,
              reason text NOT NULL,
              dead_lettered_at timestamptz NOT NULL DEFAULT now());
            CREATE INDEX IF NOT EXISTS dead_letters_materializer_id ON {Table} (materializer, id);
            """,
            connection,
            transaction);
        if (transaction is null)
        {
            // pg_advisory_xact_lock needs a transaction to hold the lock for.
            await using var own = await connection.BeginTransactionAsync(cancellationToken);
            command.Transaction = own;
            await command.ExecuteNonQueryAsync(cancellationToken);
            await own.CommitAsync(cancellationToken);
        }
        else
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        _created = true;
    }

    /// <summary>The table must be checked again: the transaction that created it rolled back, or the connection is new.</summary>
    public void Forget() => _created = false;

    public async Task InsertAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<DeadLetterRow> letters, CancellationToken cancellationToken)
    {
        await EnsureAsync(connection, transaction, cancellationToken);
        await using var batch = new NpgsqlBatch(connection, transaction);
        foreach (var letter in letters)
        {
            var command = new NpgsqlBatchCommand(
                $"""
                INSERT INTO {Table} (materializer, stage, topic, position, key, key_base64, payload, properties, publish_time, event_time, location, reason, dead_lettered_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                """);
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = letter.Materializer });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = letter.Stage });
            command.Parameters.Add(Text(letter.Topic));
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = letter.Position });
            command.Parameters.Add(Text(letter.Key));
            command.Parameters.Add(new NpgsqlParameter<bool> { TypedValue = letter.KeyBase64 });
            command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Bytea, Value = (object?)letter.Payload ?? DBNull.Value });
            command.Parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Jsonb, Value = JsonSerializer.Serialize(letter.Properties, Json) });
            command.Parameters.Add(Time(letter.PublishTime));
            command.Parameters.Add(Time(letter.EventTime));
            command.Parameters.Add(Text(letter.Location));
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = letter.Reason });
            command.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = letter.Time.UtcDateTime });
            batch.BatchCommands.Add(command);
        }

        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<StoredDeadLetter>> ReadAsync(NpgsqlConnection connection, string materializer, long afterId, long throughId, int max, CancellationToken cancellationToken)
    {
        await EnsureAsync(connection, null, cancellationToken);
        await using var command = new NpgsqlCommand(
            $"""
            SELECT id, stage, topic, position, key, key_base64, payload, properties::text, publish_time, event_time, location, reason, dead_lettered_at
            FROM {Table} WHERE materializer = $1 AND id > $2 AND id <= $3 ORDER BY id LIMIT $4
            """,
            connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = materializer });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = afterId });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = throughId });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = max });
        var letters = new List<StoredDeadLetter>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            letters.Add(DeadLetterColumns.Read(reader, materializer, ordinal => reader.IsDBNull(ordinal) ? null : new DateTimeOffset(reader.GetDateTime(ordinal), TimeSpan.Zero)));
        }

        return letters;
    }

    public async Task<long> ScalarAsync(NpgsqlConnection connection, string aggregate, string materializer, CancellationToken cancellationToken)
    {
        await EnsureAsync(connection, null, cancellationToken);
        await using var command = new NpgsqlCommand($"SELECT coalesce({aggregate}, 0) FROM {Table} WHERE materializer = $1", connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = materializer });
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task<int> DeleteAsync(NpgsqlConnection connection, string materializer, IReadOnlyList<long> ids, CancellationToken cancellationToken)
    {
        await EnsureAsync(connection, null, cancellationToken);
        await using var command = new NpgsqlCommand($"DELETE FROM {Table} WHERE materializer = $1 AND id = ANY($2)", connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = materializer });
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. ids] });
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task AppendAsync(NpgsqlConnection connection, IReadOnlyList<DeadLetterRow> letters, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await InsertAsync(connection, transaction, letters, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    private static NpgsqlParameter Text(string? value) =>
        new() { NpgsqlDbType = NpgsqlDbType.Text, Value = (object?)value ?? DBNull.Value };

    private static NpgsqlParameter Time(DateTimeOffset? value) =>
        new() { NpgsqlDbType = NpgsqlDbType.TimestampTz, Value = value is { } time ? time.UtcDateTime : DBNull.Value };
}
