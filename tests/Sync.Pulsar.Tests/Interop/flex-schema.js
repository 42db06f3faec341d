// Speaks the schema commands to a broker with the protobuf classes pulsar-flex generated from
// apache/pulsar's PulsarApi.proto (pulsar-flex has no schema API of its own), over a plain socket:
//   node flex-schema.js HOST:PORT TOPIC
// Registers a KEY_VALUE schema (kv.encoding.type INLINE) with GET_OR_CREATE_SCHEMA, creates a
// producer with a SEPARATED one, and reads both back with GET_SCHEMA (latest, and by version).
// Prints one JSON object with what the broker answered.
'use strict';
const net = require('net');
const pb = require('pulsar-flex/src/commands/protocol/pulsar/pulsar_pb.js');

const [server, topic] = process.argv.slice(2);
const [host, port] = server.split(':');
const fail = (error) => {
  process.stderr.write(`flex-schema: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
};
setTimeout(() => fail('timed out after 30 s'), 30000).unref();

const Type = pb.BaseCommand.Type;
const socket = net.connect(Number(port), host);
let buffer = Buffer.alloc(0);
const waiting = [];
socket.on('error', fail);
socket.on('data', (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  while (buffer.length >= 4 && buffer.length >= 4 + buffer.readUInt32BE(0)) {
    const total = buffer.readUInt32BE(0);
    const size = buffer.readUInt32BE(4);
    const command = pb.BaseCommand.deserializeBinary(new Uint8Array(buffer.subarray(8, 8 + size)));
    buffer = buffer.subarray(4 + total);
    const index = waiting.findIndex((w) => w.type === command.getType());
    if (index >= 0) {
      waiting.splice(index, 1)[0].resolve(command);
    }
  }
});

// A simple command frame: [totalSize][commandSize][BaseCommand].
function send(command, answerType) {
  const bytes = Buffer.from(command.serializeBinary());
  const frame = Buffer.alloc(8 + bytes.length);
  frame.writeUInt32BE(4 + bytes.length, 0);
  frame.writeUInt32BE(bytes.length, 4);
  bytes.copy(frame, 8);
  const answer = new Promise((resolve) => waiting.push({ type: answerType, resolve }));
  socket.write(frame);
  return answer;
}

function keyValueSchema(encoding) {
  const schema = new pb.Schema();
  schema.setName('KeyValue');
  schema.setType(pb.Schema.Type.KEYVALUE);
  schema.setSchemaData(new Uint8Array(8));
  for (const [key, value] of [['key.schema.type', 'BYTES'], ['value.schema.type', 'BYTES'], ['kv.encoding.type', encoding]]) {
    const property = new pb.KeyValue();
    property.setKey(key);
    property.setValue(value);
    schema.addProperties(property);
  }
  return schema;
}

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const describe = (schema) => ({
  type: schema.getType(),
  properties: Object.fromEntries(schema.getPropertiesList().map((p) => [p.getKey(), p.getValue()])),
});

async function main() {
  const connect = new pb.CommandConnect();
  connect.setClientVersion('flex-schema');
  connect.setProtocolVersion(17);
  await send(new pb.BaseCommand().setType(Type.CONNECT).setConnect(connect), Type.CONNECTED);

  const create = new pb.CommandGetOrCreateSchema();
  create.setRequestId(1);
  create.setTopic(topic);
  create.setSchema(keyValueSchema('INLINE'));
  const created = (await send(new pb.BaseCommand().setType(Type.GET_OR_CREATE_SCHEMA).setGetorcreateschema(create), Type.GET_OR_CREATE_SCHEMA_RESPONSE)).getGetorcreateschemaresponse();

  const producer = new pb.CommandProducer();
  producer.setTopic(topic);
  producer.setProducerId(1);
  producer.setRequestId(2);
  producer.setSchema(keyValueSchema('SEPARATED'));
  const produced = (await send(new pb.BaseCommand().setType(Type.PRODUCER).setProducer(producer), Type.PRODUCER_SUCCESS)).getProducerSuccess();

  const latest = new pb.CommandGetSchema();
  latest.setRequestId(3);
  latest.setTopic(topic);
  const gotLatest = (await send(new pb.BaseCommand().setType(Type.GET_SCHEMA).setGetschema(latest), Type.GET_SCHEMA_RESPONSE)).getGetschemaresponse();

  const first = new pb.CommandGetSchema();
  first.setRequestId(4);
  first.setTopic(topic);
  first.setSchemaVersion(created.getSchemaVersion());
  const gotFirst = (await send(new pb.BaseCommand().setType(Type.GET_SCHEMA).setGetschema(first), Type.GET_SCHEMA_RESPONSE)).getGetschemaresponse();

  const missing = new pb.CommandGetSchema();
  missing.setRequestId(5);
  missing.setTopic(topic + '-none');
  const gotMissing = (await send(new pb.BaseCommand().setType(Type.GET_SCHEMA).setGetschema(missing), Type.GET_SCHEMA_RESPONSE)).getGetschemaresponse();

  process.stdout.write(JSON.stringify({
    created: hex(created.getSchemaVersion()),
    producer: hex(produced.getSchemaVersion()),
    latest: { version: hex(gotLatest.getSchemaVersion()), ...describe(gotLatest.getSchema()) },
    first: { version: hex(gotFirst.getSchemaVersion()), ...describe(gotFirst.getSchema()) },
    missing: { error: gotMissing.getErrorCode(), message: gotMissing.getErrorMessage() },
  }) + '\n');
  socket.end();
  process.exit(0);
}

main().catch(fail);
