using System.Globalization;
using System.Text.Json;
using Sync.Engine.Verify;

namespace Sync.Cli.Output;

/// <summary>Writes <c>sync verify</c> results as lines (for people) and as JSON (for tools and alerts).
/// Sampled keys are hashes unless <c>--show-keys</c> asked for the keys.</summary>
public static class VerifyWriter
{
    public static void WriteText(TextWriter output, IReadOnlyList<VerificationResult> results)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(results);
        foreach (var result in results)
        {
            WriteResult(output, result, string.Empty);
            if (result.Repair is { } repair)
            {
                output.WriteLine(repair.DryRun
                    ? Text($"  dry run: would re-apply {repair.Reapplied}, would delete {repair.Deleted}, would leave {repair.Left} (ahead of the log); nothing was changed")
                    : Text($"  repaired: re-applied {repair.Reapplied}, deleted {repair.Deleted}, left {repair.Left} (ahead of the log)"));
                if (repair.Counters is { } c)
                {
                    output.WriteLine(Text($"  apply path: applied {c.Applied}, deleted {c.Deleted}, stale {c.SkippedStale}, suppressed {c.Suppressed}, dead-lettered {c.DeadLettered}"));
                }
            }

            if (result.AfterRepair is { } after)
            {
                WriteResult(output, after, "after repair: ");
            }
        }

        var drifted = results.Count(r => !(r.AfterRepair ?? r).Clean);
        output.WriteLine(drifted == 0
            ? Text($"clean: {Count(results.Count, "materializer")} verified, no drift")
            : Text($"drift: in {drifted} of {Count(results.Count, "materializer")} verified"));
    }

    public static string ToJson(IReadOnlyList<VerificationResult> results)
    {
        ArgumentNullException.ThrowIfNull(results);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            writer.WriteStartObject();
            writer.WriteBoolean("clean", results.All(r => (r.AfterRepair ?? r).Clean));
            writer.WriteStartArray("materializers");
            foreach (var result in results)
            {
                WriteJson(writer, result);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteResult(TextWriter output, VerificationResult result, string prefix)
    {
        output.WriteLine(Text($"{prefix}materializer {result.Materializer} (sink {result.Sink}, target {result.Target}): {Count(result.Keys, "key")}, {(result.Clean ? "clean" : Count(result.DriftCount, "drifted key"))}"));
        foreach (var drift in DriftClasses.All)
        {
            var sample = result.Samples[drift];
            var residue = drift == DriftClass.Extra && result.Residue > 0 ? Text($" ({result.Residue} of erased subjects: residue)") : string.Empty;
            output.WriteLine(Text($"  {drift.Name(),-10}{result.Drift[drift],8}{residue}{(sample.Count > 0 ? "  " + string.Join(' ', sample) : string.Empty)}"));
        }

        if (result.Pending > 0)
        {
            output.WriteLine(Text($"  {"pending",-10}{result.Pending,8}  (changed after the checkpoint pinned at the start: not judged)"));
        }

        if (result.Unreadable > 0)
        {
            output.WriteLine(Text($"  {"unreadable",-10}{result.Unreadable,8}  (messages the materializer cannot decode or map: see its dead letters)"));
        }
    }

    private static void WriteJson(Utf8JsonWriter writer, VerificationResult result)
    {
        writer.WriteStartObject();
        writer.WriteString("materializer", result.Materializer);
        writer.WriteString("sink", result.Sink);
        writer.WriteString("target", result.Target);
        writer.WriteString("at", result.At);
        writer.WriteNumber("keys", result.Keys);
        writer.WriteBoolean("clean", result.Clean);
        writer.WriteNumber("drift", result.DriftCount);
        writer.WriteStartObject("classes");
        foreach (var drift in DriftClasses.All)
        {
            writer.WriteStartObject(drift.Name());
            writer.WriteNumber("count", result.Drift[drift]);
            writer.WriteStartArray("sample");
            foreach (var key in result.Samples[drift])
            {
                writer.WriteStringValue(key);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        writer.WriteEndObject();
        writer.WriteNumber("residue", result.Residue);
        writer.WriteNumber("pending", result.Pending);
        writer.WriteNumber("unreadable", result.Unreadable);
        writer.WriteStartObject("pinned");
        foreach (var (stream, position) in result.Pinned.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            writer.WriteString(stream, position.ToString());
        }

        writer.WriteEndObject();
        if (result.Repair is { } repair)
        {
            writer.WriteStartObject("repair");
            writer.WriteBoolean("dryRun", repair.DryRun);
            writer.WriteNumber("reapplied", repair.Reapplied);
            writer.WriteNumber("deleted", repair.Deleted);
            writer.WriteNumber("left", repair.Left);
            writer.WriteEndObject();
        }

        if (result.AfterRepair is { } after)
        {
            writer.WritePropertyName("afterRepair");
            WriteJson(writer, after);
        }

        writer.WriteEndObject();
    }

    private static string Count(long n, string noun) => n == 1 ? $"1 {noun}" : string.Create(CultureInfo.InvariantCulture, $"{n} {noun}s");

    private static string Text(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
