using System.ComponentModel;

namespace Sync.Engine.Config;

/// <summary>Settings of the Debezium connector that wrote the topics, where the messages alone cannot
/// tell them (the names follow the connector's own properties, in camel case).</summary>
public sealed class ConnectorOptions : IValidatable
{
    /// <summary>Debezium's default <c>unavailable.value.placeholder</c> (the PostgreSQL connector's
    /// documentation, "Toasted values"; <c>CommonConnectorConfig.UNAVAILABLE_VALUE_PLACEHOLDER</c>).</summary>
    public const string DefaultUnavailableValuePlaceholder = "__debezium_unavailable_value";

    /// <summary>The values of Debezium's <c>decimal.handling.mode</c>.</summary>
    public static readonly string[] DecimalHandlingModes = ["precise", "string", "double"];

    /// <summary>The values of Debezium's <c>binary.handling.mode</c>.</summary>
    public static readonly string[] BinaryHandlingModes = ["bytes", "base64", "base64-url-safe", "hex"];

    [Description("The connector's `unavailable.value.placeholder`: a column holding it was not sent (an unchanged TOASTed value) and keeps the value the sink stores.")]
    public string UnavailableValuePlaceholder { get; set; } = DefaultUnavailableValuePlaceholder;

    [Description("The connector's `decimal.handling.mode`: `precise`, `string` or `double`.")]
    public string DecimalHandlingMode { get; set; } = "precise";

    [Description("The connector's `binary.handling.mode`: `bytes`, `base64`, `base64-url-safe` or `hex`.")]
    public string BinaryHandlingMode { get; set; } = "bytes";

    public IReadOnlyList<string> Validate(string path)
    {
        var problems = new List<string>();
        if (string.IsNullOrEmpty(UnavailableValuePlaceholder))
        {
            problems.Add($"{path}.unavailableValuePlaceholder must not be empty (Debezium's default is {DefaultUnavailableValuePlaceholder})");
        }
        else if (UnavailableValuePlaceholder.StartsWith("hex:", StringComparison.Ordinal)
            && (UnavailableValuePlaceholder.Length == 4 || UnavailableValuePlaceholder.Length % 2 != 0 || !UnavailableValuePlaceholder.Skip(4).All(char.IsAsciiHexDigit)))
        {
            // Debezium reads "hex:" and hexadecimal octets (PostgresConnectorConfig.getUnavailableValuePlaceholder).
            problems.Add($"{path}.unavailableValuePlaceholder ({UnavailableValuePlaceholder}) must be hexadecimal octets after 'hex:'");
        }

        if (!DecimalHandlingModes.Contains(DecimalHandlingMode, StringComparer.Ordinal))
        {
            problems.Add($"{path}.decimalHandlingMode ({DecimalHandlingMode}) must be one of: {string.Join(", ", DecimalHandlingModes)}");
        }

        if (!BinaryHandlingModes.Contains(BinaryHandlingMode, StringComparer.Ordinal))
        {
            problems.Add($"{path}.binaryHandlingMode ({BinaryHandlingMode}) must be one of: {string.Join(", ", BinaryHandlingModes)}");
        }

        return problems;
    }
}
