using System.Diagnostics;
using System.Text;
using Google.Protobuf;
using Sync.Engine.Changes;
using Sync.Engine.Formats;
using Sync.Engine.Sources;
using Sync.Sources.File;
using Sync.Pulsar;
using Sync.Pulsar.Protocol;
using Sync.Pulsar.Protocol.Proto;
using Sync.Testing.Process;

namespace Sync.Chaos;

/// <summary>What a fuzz run found. A crash is an exception other than the parser's documented
/// rejection, or a rejection without a reason; a hang is an input that took longer than the budget.</summary>
public sealed record FuzzResult(int Inputs, int Crashes, int Hangs, int Rejected, long LargestAllocation, IReadOnlyList<string> Examples)
{
    public bool Passed => Crashes == 0 && Hangs == 0;

    public string FigureLine => $"inputs: {Inputs}, crashes: {Crashes}, hangs: {Hangs}, rejected: {Rejected}";
}

/// <summary>
/// Feeds random and mutated inputs to every parser that reads outside data: the debezium-json and
/// json decoders (keys included), the changelog line parser (and the decoder behind it) and the
/// Pulsar frame parser (with decompression and batch splitting, as the consumer does). The corpus
/// holds real shapes: the lines of examples/data/changelog.jsonl, Debezium envelopes with and
/// without schema, plain JSON rows, and Pulsar frames captured from other clients plus frames our
/// encoder writes (batched, compressed). Each input runs under a time budget on a worker thread.
/// </summary>
public sealed class FuzzCampaign
{
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(2);

    // Documented rejections: DecodeException (decoders), FormatException (changelog lines),
    // PulsarProtocolException and its subclasses (frames, batches, decompression).
    private static readonly Type[] Rejections = [typeof(DecodeException), typeof(FormatException), typeof(PulsarProtocolException)];

    private static readonly string[] JsonPieces = ["{", "}", "[", "]", "\"", ":", ",", "null", "-1", "1e400", "\\ud800", "\\u0000", "\"\"", "0.5", "true", "\"z8c=\"", "9223372036854775808", "\"op\":\"d\"", "\"schema\":", "\"payload\":"];

    private readonly Random _random;
    private readonly List<byte[]> _lines;
    private readonly List<(byte[] Value, MessageKey Key)> _messages;
    private readonly List<byte[]> _frames;
    private readonly IMessageDecoder _debezium = MessageFormats.Create(MessageFormats.DebeziumJson, new DecoderOptions());
    private readonly IMessageDecoder _debeziumKeyed = MessageFormats.Create(MessageFormats.DebeziumJson, new DecoderOptions { KeyColumns = ["id"] });
    private readonly IMessageDecoder _json = MessageFormats.Create(MessageFormats.Json, new DecoderOptions());
    private readonly List<string> _examples = [];
    private int _crashes;
    private int _hangs;
    private int _rejected;
    private long _largestAllocation;

    private FuzzCampaign(int seed)
    {
        _random = new Random(seed);
        _lines = [.. File.ReadLines(Path.Combine(RepoPaths.Examples, "data", "changelog.jsonl")).Where(l => l.Length > 0).Select(Encoding.UTF8.GetBytes)];
        _messages = [.. Messages(_lines)];
        _frames = [.. Frames()];
    }

    public static FuzzResult Run(int inputs, int seed, TextWriter log)
    {
        var campaign = new FuzzCampaign(seed);
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < inputs; i++)
        {
            campaign.One(i % 4);
            if ((i + 1) % 50_000 == 0)
            {
                log.WriteLine($"fuzz: {i + 1} inputs, {campaign._crashes} crashes, {campaign._hangs} hangs, {clock.Elapsed:mm\\:ss}");
            }
        }

        log.WriteLine($"fuzz: largest allocation for one input {campaign._largestAllocation / 1024.0:0} KiB");
        foreach (var example in campaign._examples)
        {
            log.WriteLine($"fuzz: {example}");
        }

        return new FuzzResult(inputs, campaign._crashes, campaign._hangs, campaign._rejected, campaign._largestAllocation, campaign._examples);
    }

    private void One(int target)
    {
        Action parse;
        string what;
        byte[] input;
        switch (target)
        {
            case 0:
                var (value, key) = _messages[_random.Next(_messages.Count)];
                var mutated = Mutate(value);
                var mutatedKey = _random.Next(4) == 0 ? new MessageKey(Encoding.UTF8.GetString(Mutate(Encoding.UTF8.GetBytes(key.Text ?? "{}"))), _random.Next(2) == 0) : key;
                var decoder = _random.Next(3) switch { 0 => _debezium, 1 => _debeziumKeyed, _ => _json };
                what = "decoder";
                input = mutated;
                parse = () => decoder.Decode(Message(mutated, mutatedKey));
                break;
            case 1:
                var line = Mutate(_lines[_random.Next(_lines.Count)]);
                what = "changelog line";
                input = line;
                parse = () => _debezium.Decode(ChangelogLineParser.Parse(line, new StreamPosition(1, 1), out _));
                break;
            case 2:
                var frame = MutateFrame(_frames[_random.Next(_frames.Count)]);
                what = "pulsar frame";
                input = frame;
                parse = () => ParseFrame(frame);
                break;
            default:
                var noise = new byte[_random.Next(0, 512)];
                _random.NextBytes(noise);
                var kind = _random.Next(3);
                what = kind switch { 0 => "random decoder input", 1 => "random changelog line", _ => "random frame" };
                input = noise;
                parse = kind switch
                {
                    0 => () => _debezium.Decode(Message(noise, MessageKey.FromBytesAsBase64(noise))),
                    1 => () => ChangelogLineParser.Parse(noise, new StreamPosition(1, 1), out _),
                    _ => () => ParseFrame(noise),
                };
                break;
        }

        Exercise(what, parse, input);
    }

    private void Exercise(string what, Action parse, byte[] input)
    {
        Exception? failure = null;
        long allocated = 0;
        var work = Task.Run(() =>
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                parse();
            }
            catch (Exception e)
            {
                failure = e;
            }

            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        });
        if (!work.Wait(Budget))
        {
            // The worker is abandoned; a hang is counted and the run goes on.
            _hangs++;
            Note($"hang: {what} took longer than {Budget.TotalSeconds} s");
            return;
        }

        _largestAllocation = Math.Max(_largestAllocation, allocated);
        if (failure is null)
        {
            return;
        }

        if (Rejections.Any(t => t.IsInstanceOfType(failure)) && !string.IsNullOrWhiteSpace(failure.Message))
        {
            _rejected++;
            return;
        }

        _crashes++;
        // The input itself, so that a crash can be replayed in a unit test.
        Note($"crash: {what}: {failure.GetType().Name}: {failure.Message} (input, base64: {Convert.ToBase64String(input.AsSpan(0, Math.Min(input.Length, 2048)))})");
    }

    private void Note(string example)
    {
        if (_examples.Count < 10)
        {
            _examples.Add(example);
        }
    }

    /// <summary>What the consumer does with a frame: decode it, decompress and split the batch.</summary>
    private static void ParseFrame(byte[] bytes)
    {
        var frame = FrameDecoder.Decode(bytes);
        if (frame.Corruption is { } corruption)
        {
            // A MESSAGE whose entry does not decode: the consumer discards (or dead-letters) it.
            throw new PulsarProtocolException(corruption);
        }
        if (frame.Metadata is not { } metadata)
        {
            return;
        }

        var payload = frame.Payload;
        if (metadata.Compression != CompressionType.None)
        {
            payload = PayloadCompression.Decompress(metadata.Compression, payload.Span, (int)Math.Min(metadata.UncompressedSize, int.MaxValue));
        }

        if (metadata.HasNumMessagesInBatch)
        {
            BatchPayload.ReadExact(payload, metadata.NumMessagesInBatch);
        }
    }

    private static SourceMessage Message(byte[] value, MessageKey key) => new()
    {
        Topic = "persistent://public/default/fuzz",
        Position = new StreamPosition(1, 1),
        Key = key,
        Value = value,
        HasValue = value.Length > 0,
    };

    private byte[] Mutate(byte[] input)
    {
        var bytes = new List<byte>(input);
        var steps = 1 + _random.Next(4);
        for (var s = 0; s < steps; s++)
        {
            var at = bytes.Count == 0 ? 0 : _random.Next(bytes.Count);
            switch (_random.Next(6))
            {
                case 0 when bytes.Count > 0:
                    bytes[at] ^= (byte)(1 << _random.Next(8)); // bit flip
                    break;
                case 1 when bytes.Count > 0:
                    bytes[at] = (byte)_random.Next(256);
                    break;
                case 2:
                    bytes.RemoveRange(at, bytes.Count - at); // truncation
                    break;
                case 3:
                    bytes.InsertRange(at, Encoding.UTF8.GetBytes(JsonPieces[_random.Next(JsonPieces.Length)]));
                    break;
                case 4 when bytes.Count > 0:
                    var length = Math.Min(bytes.Count - at, 1 + _random.Next(64));
                    bytes.InsertRange(at, bytes.GetRange(at, length)); // a slice repeated
                    break;
                default:
                    if (bytes.Count > 0)
                    {
                        bytes.RemoveAt(at);
                    }

                    break;
            }
        }

        return [.. bytes];
    }

    /// <summary>Frame mutations that target the sizes and counts a malicious broker could lie about.</summary>
    private byte[] MutateFrame(byte[] input)
    {
        var bytes = (byte[])input.Clone();
        switch (_random.Next(4))
        {
            case 0:
                // totalSize or commandSize: huge, negative, off by a little.
                var field = _random.Next(2) * 4;
                if (bytes.Length >= field + 4)
                {
                    uint[] lies = [uint.MaxValue, 0x7FFFFFFF, 0x80000000, 0, (uint)bytes.Length, (uint)bytes.Length + 1, (uint)_random.Next()];
                    System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(field), lies[_random.Next(lies.Length)]);
                }

                return bytes;
            case 1:
                // A checksum or size inside the message part.
                if (bytes.Length > 16)
                {
                    var at = 8 + _random.Next(bytes.Length - 12);
                    System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(at), (uint)_random.Next());
                }

                return bytes;
            default:
                return Mutate(bytes);
        }
    }

    private static IEnumerable<(byte[] Value, MessageKey Key)> Messages(List<byte[]> lines)
    {
        foreach (var line in lines)
        {
            var message = ChangelogLineParser.Parse(line, new StreamPosition(1, 1), out _);
            yield return (message.Value.ToArray(), message.Key);
        }

        const string Source = """{"connector":"postgresql","db":"app","schema":"public","table":"t","lsn":1234,"ts_ms":1}""";
        const string Schema = """{"type":"struct","fields":[{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"name"},{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"price"},{"type":"int32","optional":true,"name":"io.debezium.time.Date","field":"born"},{"type":"int64","optional":true,"name":"io.debezium.time.MicroTimestamp","field":"seen"}],"optional":true,"name":"after","field":"after"},{"type":"string","optional":false,"field":"op"}],"optional":false,"name":"envelope"}""";
        yield return (Encoding.UTF8.GetBytes($$$"""{"schema":{{{Schema}}},"payload":{"before":null,"after":{"id":42,"name":"Ada","price":"MDk=","born":-1,"seen":-1},"source":{{{Source}}},"op":"c","ts_ms":1}}"""), new MessageKey("""{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false},"payload":{"id":42}}""", false));
        yield return (Encoding.UTF8.GetBytes($$"""{"before":{"id":7},"after":null,"source":{{Source}},"op":"d","ts_ms":1}"""), MessageKey.FromBytesAsBase64("""{"id":7}"""u8));
        yield return (Encoding.UTF8.GetBytes($$$"""{"before":null,"after":{"id":7,"tags":["a","b"],"meta":{"x":1.5e3}},"source":{{{Source}}},"op":"r","ts_ms":1}"""), new MessageKey("""{"id":7}""", false));
        yield return ([], new MessageKey("""{"id":7}""", false)); // a Debezium Server tombstone
        yield return (Encoding.UTF8.GetBytes("""{"id":7,"name":"Ann","score":1.5e3,"nested":{"a":[1,2,null]}}"""), new MessageKey("7", false));
    }

    private static IEnumerable<byte[]> Frames()
    {
        // Frames captured by other clients (the golden frames of tests/Sync.Pulsar.Tests/Protocol/GoldenFrameTests.cs):
        // pulsar-rs CONNECT and SEND, pulsar-client-go batch of one behind a MESSAGE command.
        yield return Convert.FromHexString("000000220000001E0802121A0A10322E302E312D696E6375626174696E67200C2A046E6F6E65");
        yield return Convert.FromHexString("0000003D0000000808063204080010080E01428354B5000000190A0E7374616E64616C6F6E652D302D33100818BEC0FC84D22C68656C6C6F2D70756C7361722D38");
        var message = new BaseCommand { Type = BaseCommand.Types.Type.Message, Message = new CommandMessage { ConsumerId = 1, MessageId = new MessageIdData { LedgerId = 3, EntryId = 9 } } };
        var metadata = new MessageMetadata { ProducerName = "fuzz", SequenceId = 1, PublishTime = 1_764_000_000_000, PartitionKey = "eyJpZCI6N30=", PartitionKeyB64Encoded = true };
        yield return FrameEncoder.EncodePayloadCommand(message, metadata, """{"before":null,"after":{"id":7},"op":"c"}"""u8);

        var batch = BatchPayload.Encode(Enumerable.Range(0, 3).Select(i => (new SingleMessageMetadata { PayloadSize = 5, PartitionKey = $"k{i}" }, (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes($"row-{i}"))));
        var batchMetadata = metadata.Clone();
        batchMetadata.NumMessagesInBatch = 3;
        yield return FrameEncoder.EncodePayloadCommand(message, batchMetadata, batch);

        foreach (var compression in new[] { CompressionType.Lz4, CompressionType.Zlib, CompressionType.Zstd, CompressionType.Snappy })
        {
            var compressed = metadata.Clone();
            compressed.Compression = compression;
            compressed.UncompressedSize = (uint)batch.Length;
            compressed.NumMessagesInBatch = 3;
            yield return FrameEncoder.EncodePayloadCommand(message, compressed, PayloadCompression.Compress(compression, batch));
        }

        yield return FrameEncoder.EncodeCommand(new BaseCommand { Type = BaseCommand.Types.Type.Ping, Ping = new CommandPing() });
        yield return FrameEncoder.EncodeCommand(new BaseCommand { Type = BaseCommand.Types.Type.SendReceipt, SendReceipt = new CommandSendReceipt { ProducerId = 1, SequenceId = 2, MessageId = new MessageIdData { LedgerId = 1, EntryId = 2 } } });
    }
}
