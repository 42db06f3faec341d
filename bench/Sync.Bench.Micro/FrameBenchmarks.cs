using System.Buffers;
using BenchmarkDotNet.Attributes;
using Sync.Pulsar.Protocol;
using Sync.Pulsar.Protocol.Proto;

namespace Sync.Bench.Micro;

/// <summary>Encoding and decoding one SEND frame with a 1 KB payload (CRC-32C included), and the
/// CRC alone over the same bytes.</summary>
[MemoryDiagnoser]
public class FrameBenchmarks
{
    private readonly ArrayBufferWriter<byte> _output = new(4096);
    private BaseCommand _command = null!;
    private MessageMetadata _metadata = null!;
    private byte[] _payload = null!;
    private ReadOnlyMemory<byte> _frame;

    [GlobalSetup]
    public void Setup()
    {
        _payload = new byte[1024];
        new Random(42).NextBytes(_payload);
        _command = new BaseCommand { Type = BaseCommand.Types.Type.Send, Send = new CommandSend { ProducerId = 1, SequenceId = 42, NumMessages = 1 } };
        _metadata = new MessageMetadata { ProducerName = "bench", SequenceId = 42, PublishTime = 1_748_854_800_000, PartitionKey = "eyJpZCI6NDJ9", PartitionKeyB64Encoded = true };
        FrameEncoder.WritePayloadCommand(_output, _command, _metadata, _payload);
        _frame = _output.WrittenMemory.ToArray();
    }

    [Benchmark]
    public int Encode_send_frame()
    {
        _output.ResetWrittenCount();
        FrameEncoder.WritePayloadCommand(_output, _command, _metadata, _payload);
        return _output.WrittenCount;
    }

    [Benchmark]
    public PulsarFrame Decode_send_frame() => FrameDecoder.Decode(_frame);

    [Benchmark]
    public uint Crc32C_of_1_KB() => Crc32C.Compute(_payload);
}
