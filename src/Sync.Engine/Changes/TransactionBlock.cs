namespace Sync.Engine.Changes;

/// <summary>Debezium's <c>transaction</c> block of a change event: which source transaction the change
/// belongs to and where in it. Field names and types from debezium/debezium
/// <c>debezium-connector-common/src/main/java/io/debezium/schema/SchemaFactory.java</c>
/// (<c>transactionBlockSchema</c>: <c>id</c> STRING, <c>total_order</c> and <c>data_collection_order</c>
/// INT64) and <c>pipeline/txmetadata/AbstractTransactionStructMaker.addTransactionBlock</c>; the same
/// fields in tag v1.9.7.Final <c>debezium-core/.../pipeline/txmetadata/TransactionMonitor.java</c>.</summary>
/// <param name="Id">The transaction id as the connector wrote it (PostgreSQL 2.x and later:
/// <c>txId:LSN</c>, which differs between the records of one transaction; 1.9: the bare txId).</param>
/// <param name="TotalOrder">The change's position among all the transaction's changes, from 1.</param>
/// <param name="DataCollectionOrder">The change's position among the transaction's changes of its table, from 1.</param>
public sealed record TransactionBlock(string Id, long TotalOrder, long DataCollectionOrder)
{
    /// <summary>The id that names the transaction in every one of its records: <see cref="Id"/> up to
    /// its first <c>:</c>. Debezium's PostgreSQL connector appends the LSN of each record since 2.0
    /// (debezium-connector-postgres/.../pipeline/txmetadata/PostgresTransactionMonitor.java
    /// <c>adjustTxId</c>: <c>String.format("%s:%s", txId, lsn)</c>; postgresql.adoc "Transaction
    /// metadata" shows <c>571:53195829</c> for BEGIN and <c>571:53195832</c> for END).</summary>
    public string TransactionKey => KeyOf(Id);

    /// <summary>The part of a transaction id that all of the transaction's records share (see
    /// <see cref="TransactionKey"/>): for PostgreSQL's <c>digits:digits</c> the txId before the colon;
    /// any other id whole, since other connectors' ids hold colons of their own (a MySQL GTID
    /// <c>uuid:n</c>, SQL Server's <c>commit_lsn</c> <c>hex:hex:hex</c>) and are the same in every record.</summary>
    public static string KeyOf(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        var colon = id.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 && colon < id.Length - 1 && AllDigits(id.AsSpan(0, colon)) && AllDigits(id.AsSpan(colon + 1))
            ? id[..colon]
            : id;
    }

    private static bool AllDigits(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (c is < '0' or > '9')
            {
                return false;
            }
        }

        return text.Length > 0;
    }
}
