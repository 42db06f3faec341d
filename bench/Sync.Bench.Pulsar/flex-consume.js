// Consume-throughput probe for pulsar-flex (an independent, pure-JavaScript Pulsar client),
// started by Program.cs against the same fake broker as our client.
//   node flex-consume.js HOST:PORT TOPIC SUBSCRIPTION COUNT RECEIVE_QUEUE_SIZE [await|nowait]
// The subscription must already exist and sit before the messages (pulsar-flex never puts
// initialPosition on the wire, so a new subscription of its own would start at Latest).
// Every message is acknowledged individually: "await" uses the library's autoAck, which awaits
// each ACK's response before the next message; "nowait" acks from onMessage without awaiting.
// "nowait" is slower, not faster: pulsar-flex then empties its receive queue before the next
// permits are served, and its run loop sleeps 1 s whenever the queue is empty (setTimeout 1000
// in src/consumer/index.js), so it falls to ~500-1000 msgs/s. The benchmark uses "await".
// Prints one JSON line: {"count", "bytes", "seconds", "cpuUserMs", "cpuSystemMs"}, the time and
// CPU counted from run() to the COUNT-th message (subscribing and node start-up excluded).
'use strict';
const { Consumer, logLevel } = require('pulsar-flex');

const [server, topic, subscription, countText, queueText, ackMode = 'await'] = process.argv.slice(2);
const count = Number(countText);
const fail = (error) => {
  process.stderr.write(`flex-consume: ${error && error.stack ? error.stack : error}\n`);
  process.exit(1);
};
setTimeout(() => fail('timed out after 240 s'), 240000).unref();

async function main() {
  const consumer = new Consumer({
    topic,
    discoveryServers: [server],
    subscription,
    subType: Consumer.SUB_TYPES.EXCLUSIVE,
    consumerName: 'pulsar-flex-bench',
    receiveQueueSize: Number(queueText),
    logLevel: logLevel.NOTHING,
  });
  await consumer.subscribe();
  let seen = 0;
  let bytes = 0;
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const finish = () => {
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const used = process.cpuUsage(cpu);
    process.stdout.write(JSON.stringify({
      count: seen, bytes, seconds, cpuUserMs: used.user / 1000, cpuSystemMs: used.system / 1000,
    }) + '\n');
    process.exit(0);
  };
  const autoAck = ackMode === 'await';
  await consumer.run({
    autoAck,
    onMessage: async ({ message, ack }) => {
      bytes += message.length;
      if (!autoAck) {
        ack().catch(fail);
      }
      if (++seen === count) {
        finish();
      }
    },
  });
}

main().catch(fail);
