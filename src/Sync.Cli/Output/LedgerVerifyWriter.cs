using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Sync.Compliance.Ledger;

namespace Sync.Cli.Output;

/// <summary>Writes a <c>ledger verify</c> result as JSON (for tools and auditors) and as lines (for
/// people). Neither holds a key or a value: the result has none.</summary>
public static class LedgerVerifyWriter
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public static string ToJson(LedgerVerification result) => JsonSerializer.Serialize(result, Json);

    public static void WriteText(TextWriter output, LedgerVerification result)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(result);
        WriteSweep(output, result);
        foreach (var repair in result.Repairs)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"repaired: subject {repair.Subject}, {repair.Keys} key(s) of request(s) {string.Join(", ", repair.RequestIds)} erased again: {repair.Verdict}"));
        }

        if (result.AfterRepair is { } after)
        {
            output.WriteLine("after repair:");
            WriteSweep(output, after);
        }
    }

    private static void WriteSweep(TextWriter output, LedgerVerification result)
    {
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ledger {result.Ledger}: {result.ActiveRequests} active request(s)"));
        foreach (var place in result.Swept)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  swept {place.Materializer}: {place.Where}: {place.Items} {Items(place.Kind)}"));
        }

        foreach (var reason in result.NotSwept)
        {
            output.WriteLine($"  not swept {reason}");
        }

        foreach (var request in result.Residue)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  residue: request {request.RequestId} (subject {request.Subject}): {request.Total} found"));
            foreach (var place in request.Places)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {place.Materializer}: {place.Where}: {place.Count} {Items(place.Kind)}"));
            }
        }

        output.WriteLine(result.Clean
            ? "verdict: clean (no erased subject found)"
            : string.Create(CultureInfo.InvariantCulture, $"verdict: residue ({result.Residue.Count} request(s) found again)"));
    }

    private static string Items(PlaceKind kind) => kind switch
    {
        PlaceKind.Sink => "row(s)",
        PlaceKind.Topic => "message(s)",
        _ => "letter(s)",
    };
}
