// Drives pulsar-flex, an independent pure-JavaScript Pulsar client, from the C# tests.
//   node flex-client.js produce HOST:PORT TOPIC COUNT [batch]
//   node flex-client.js consume HOST:PORT TOPIC SUBSCRIPTION COUNT [noack] [key-shared]
// Output is one JSON object per line: {"subscribed":true} once the subscription exists, each
// consumed message, then {"done":true}.
// pulsar-flex cannot set keys or compression, so those stay out of the cross-check. It also
// never puts initialPosition on the wire (its option is dropped when building SUBSCRIBE), so
// its subscriptions start at Latest: the C# side produces only after {"subscribed":true}.
'use strict';
const { Producer, Consumer, logLevel } = require('pulsar-flex');

const [mode, server, topic, ...rest] = process.argv.slice(2);
const print = (value) => process.stdout.write(JSON.stringify(value) + '\n');
const fail = (error) => {
  process.stderr.write(`flex-client: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
};
// Never hang a test run: the C# side waits for our exit.
setTimeout(() => fail('timed out after 30 s'), 30000).unref();

async function produce(count, batch) {
  const producer = new Producer({
    topic,
    discoveryServers: [server],
    producerAccessMode: Producer.ACCESS_MODES.SHARED,
    logLevel: process.env.FLEX_LOG ? logLevel[process.env.FLEX_LOG] : logLevel.NOTHING,
  });
  await producer.create();
  if (batch) {
    const messages = [];
    for (let i = 0; i < count; i++) {
      messages.push({ payload: `flex-${i}`, properties: { i: String(i) } });
    }
    await producer.sendBatch({ messages });
  } else {
    for (let i = 0; i < count; i++) {
      await producer.sendMessage({ payload: `flex-${i}`, properties: { i: String(i) } });
    }
  }
  await producer.close();
  print({ done: true });
  process.exit(0);
}

async function consume(subscription, count, acknowledge, subType) {
  const consumer = new Consumer({
    topic,
    discoveryServers: [server],
    subscription,
    // Key_Shared goes without KeySharedMeta (pulsar-flex has no field for it): the broker then
    // uses its default policy, AUTO_SPLIT without out-of-order delivery.
    subType,
    consumerName: 'pulsar-flex',
    receiveQueueSize: 100,
    initialPosition: Consumer.INITIAL_POSITION.EARLIEST,
    logLevel: process.env.FLEX_LOG ? logLevel[process.env.FLEX_LOG] : logLevel.NOTHING,
  });
  await consumer.subscribe();
  print({ subscribed: true });
  let seen = 0;
  await consumer.run({
    autoAck: false,
    onMessage: async ({ ack, message, properties, redeliveryCount, metadata }) => {
      print({
        payload: Buffer.from(message).toString('base64'),
        properties,
        redeliveryCount,
        key: metadata.partitionKey || null,
      });
      if (acknowledge) {
        await ack();
      }
      seen++;
      if (seen === count) {
        print({ done: true });
        process.exit(0);
      }
    },
  });
}

if (mode === 'produce') {
  produce(Number(rest[0]), rest[1] === 'batch').catch(fail);
} else if (mode === 'consume') {
  const flags = rest.slice(2);
  const subType = flags.includes('key-shared') ? Consumer.SUB_TYPES.KEY_SHARED : Consumer.SUB_TYPES.EXCLUSIVE;
  consume(rest[0], Number(rest[1]), !flags.includes('noack'), subType).catch(fail);
} else {
  fail(`unknown mode ${mode}`);
}
