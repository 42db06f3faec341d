using System.Collections.Frozen;
using System.Reflection;
using System.Runtime.Serialization;

namespace Sync.Compliance.Erasure;

/// <summary>The words reports, JSON and the ledger use for erasure's verdicts and states: each enum
/// member's <see cref="EnumMemberAttribute"/> value, which snapshot serializers read as well.</summary>
public static class ErasureText
{
    private static readonly FrozenDictionary<ErasureVerdict, string> Verdicts = TextOf<ErasureVerdict>();
    private static readonly FrozenDictionary<string, ErasureVerdict> VerdictsByText = Verdicts.ToFrozenDictionary(v => v.Value, v => v.Key, StringComparer.Ordinal);
    private static readonly FrozenDictionary<CompactionState, string> CompactionStates = TextOf<CompactionState>();

    public static string Of(ErasureVerdict verdict) => Verdicts[verdict];

    public static string Of(CompactionState state) => CompactionStates[state];

    /// <summary>The verdict a text names; false for any other text.</summary>
    public static bool TryParse(string text, out ErasureVerdict verdict) => VerdictsByText.TryGetValue(text, out verdict);

    private static FrozenDictionary<T, string> TextOf<T>()
        where T : struct, Enum =>
        Enum.GetValues<T>().ToFrozenDictionary(v => v, v => typeof(T).GetField(v.ToString())!.GetCustomAttribute<EnumMemberAttribute>()!.Value!);
}
