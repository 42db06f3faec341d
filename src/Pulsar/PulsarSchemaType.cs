namespace Sync.Pulsar;

/// <summary>
/// The schema types of the protocol's <c>Schema.Type</c> (apache/pulsar
/// pulsar-common/src/main/proto/PulsarApi.proto). <see cref="None"/> is what the Java client sends
/// for BYTES (and for no schema).
/// </summary>
public enum PulsarSchemaType
{
    None = 0,
    String = 1,
    Json = 2,
    Protobuf = 3,
    Avro = 4,
    Bool = 5,
    Int8 = 6,
    Int16 = 7,
    Int32 = 8,
    Int64 = 9,
    Float = 10,
    Double = 11,
    Date = 12,
    Time = 13,
    Timestamp = 14,
    KeyValue = 15,
    Instant = 16,
    LocalDate = 17,
    LocalTime = 18,
    LocalDateTime = 19,
    ProtobufNative = 20,
}
