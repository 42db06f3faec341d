using System.Globalization;
using System.Runtime.InteropServices;
using Sync.Testing.Pulsar;

// Starts the fake Pulsar broker on loopback and prints its URLs, binary protocol then admin REST
// (`pulsar://127.0.0.1:P http://127.0.0.1:Q`), as the first line of output, so that scripts and
// cross-client tests (pulsar-flex) can find it. Runs until SIGTERM, Ctrl+C
// or the end of standard input, whichever comes first. Fault endpoints for other processes live
// under /fake/ on the admin port (retention/enforce, clock/advance, ledgers/roll).
var port = 0;
var adminPort = 0;
var verbose = false;
var batchIndexAck = false;
var manualClock = false;
var maxEntriesPerLedger = 50_000;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--port" when i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var value):
            port = value;
            i++;
            break;
        case "--verbose":
            verbose = true;
            break;
        case "--batch-index-ack":
            batchIndexAck = true;
            break;
        case "--manual-clock":
            manualClock = true;
            break;
        case "--max-entries-per-ledger" when i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0:
            maxEntriesPerLedger = value;
            i++;
            break;
        case "--admin-port" when i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var value):
            adminPort = value;
            i++;
            break;
        default:
            Console.Error.WriteLine($"fake-pulsar: unknown argument '{args[i]}'. Usage: FakePulsar [--port N] [--admin-port N] [--verbose] [--batch-index-ack] [--max-entries-per-ledger N] [--manual-clock] (ports: 0 = ephemeral)");
            return 2;
    }
}

await using var broker = FakePulsarBroker.Start(new FakePulsarBrokerOptions
{
    Port = port,
    AdminPort = adminPort,
    // Commands go to standard error so that the first line of standard output stays the URL.
    Trace = verbose ? line => Console.Error.WriteLine(line) : null,
    AcknowledgmentAtBatchIndexLevelEnabled = batchIndexAck,
    MaxEntriesPerLedger = maxEntriesPerLedger,
    // A manual clock moves only through POST /fake/clock/advance, so retention can be tested from outside.
    Clock = manualClock ? new ManualTimeProvider(DateTimeOffset.UtcNow) : TimeProvider.System,
});
Console.WriteLine($"{broker.ServiceUrl.ToString().TrimEnd('/')} {broker.AdminUrl.ToString().TrimEnd('/')}");
Console.Out.Flush();

var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.TrySetResult();
});
using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
{
    context.Cancel = true;
    stop.TrySetResult();
});
_ = Task.Run(() =>
{
    // End of standard input (the parent went away or closed the pipe) also stops the broker.
    while (Console.In.ReadLine() is not null)
    {
    }
    stop.TrySetResult();
});

await stop.Task;
return 0;
