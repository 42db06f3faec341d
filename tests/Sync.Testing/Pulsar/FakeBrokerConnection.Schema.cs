using System.Buffers.Binary;
using Sync.Pulsar.Protocol.Proto;

namespace Sync.Testing.Pulsar;

// GET_SCHEMA / GET_SCHEMA_RESPONSE, GET_OR_CREATE_SCHEMA / GET_OR_CREATE_SCHEMA_RESPONSE
// (apache/pulsar ServerCnx.handleGetSchema and handleGetOrCreateSchema). A producer's schema
// (CommandProducer.schema) is registered in FakeBrokerConnection.Produce.cs.
internal sealed partial class FakeBrokerConnection
{
    private void HandleGetSchema(CommandGetSchema request)
    {
        var response = new CommandGetSchemaResponse { RequestId = request.RequestId };
        long? version = null;
        if (request.HasSchemaVersion)
        {
            // LongSchemaVersion: 8 big-endian bytes; anything else names no version we hold.
            version = request.SchemaVersion.Length == 8 ? BinaryPrimitives.ReadInt64BigEndian(request.SchemaVersion.Span) : -1;
        }

        lock (Broker.Sync)
        {
            if (Broker.FindSchemaLocked(request.Topic, version) is { } found)
            {
                response.Schema = found.Schema.Clone();
                response.SchemaVersion = FakePulsarBroker.VersionBytes(found.Version);
            }
            else
            {
                // One answer for "no topic" and "no schema (at that version)".
                response.ErrorCode = ServerError.TopicNotFound;
                response.ErrorMessage = "Topic not found or no-schema";
            }
        }

        Send(new BaseCommand { Type = BaseCommand.Types.Type.GetSchemaResponse, GetSchemaResponse = response });
    }

    private void HandleGetOrCreateSchema(CommandGetOrCreateSchema request)
    {
        long version;
        lock (Broker.Sync)
        {
            if (Broker.IncompatibilityLocked(request.Topic, request.Schema) is { } incompatible)
            {
                // The refusal travels in the response's error fields, not as an ERROR command.
                Send(new BaseCommand
                {
                    Type = BaseCommand.Types.Type.GetOrCreateSchemaResponse,
                    GetOrCreateSchemaResponse = new CommandGetOrCreateSchemaResponse { RequestId = request.RequestId, ErrorCode = ServerError.IncompatibleSchema, ErrorMessage = incompatible },
                });
                return;
            }
            // ServerCnx.handleGetOrCreateSchema goes through topic.addSchema: an equal schema keeps
            // its version, a new one is appended.
            version = Broker.GetOrAddSchemaLocked(request.Topic, request.Schema);
        }

        Send(new BaseCommand
        {
            Type = BaseCommand.Types.Type.GetOrCreateSchemaResponse,
            GetOrCreateSchemaResponse = new CommandGetOrCreateSchemaResponse { RequestId = request.RequestId, SchemaVersion = FakePulsarBroker.VersionBytes(version) },
        });
    }
}
