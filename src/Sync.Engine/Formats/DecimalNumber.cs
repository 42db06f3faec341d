using System.Numerics;

namespace Sync.Engine.Formats;

/// <summary>Exact conversion of JSON number text to a plain decimal numeral.</summary>
internal static class DecimalNumber
{
    /// <summary>Largest exponent expanded; beyond it the plain numeral would be unreasonably long.</summary>
    private const int MaxExponent = 10_000;

    /// <summary>Returns JSON number text unchanged when it has no exponent (<c>12.50</c> stays
    /// <c>12.50</c>); expands an exponent exactly (<c>1.50e1</c> → <c>15.0</c>, <c>1E-3</c> → <c>0.001</c>).</summary>
    public static bool TryToPlain(string json, out string plain)
    {
        var e = json.AsSpan().IndexOfAny('e', 'E');
        if (e < 0)
        {
            plain = json;
            return true;
        }

        plain = string.Empty;
        if (!int.TryParse(json.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var exponent)
            || Math.Abs(exponent) > MaxExponent)
        {
            return false;
        }

        var mantissa = json.AsSpan(0, e);
        var point = mantissa.IndexOf('.');
        var fractionDigits = point < 0 ? 0 : mantissa.Length - point - 1;
        var digits = point < 0 ? mantissa.ToString() : string.Concat(mantissa[..point], mantissa[(point + 1)..]);
        if (!BigInteger.TryParse(digits, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var unscaled))
        {
            return false;
        }

        plain = DecimalText.Format(unscaled, fractionDigits - exponent);
        return true;
    }
}
