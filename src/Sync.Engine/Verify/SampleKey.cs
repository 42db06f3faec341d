using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Sync.Engine.Verify;

/// <summary>
/// The secret of the key hashes a verification report shows for its sampled keys: HMAC-SHA256 of the
/// key's canonical text (<see cref="VerifyKey.Canonical"/>) under this secret, so that a report's reader
/// cannot test guessed keys against a hash (a plain SHA-256 of an id from a small key space is found
/// by hashing every id). The secret is either given (<c>sync verify --sample-key-file</c>) or generated
/// at a materializer's first verification and kept in its sink next to its checkpoint, as entries
/// <see cref="EntryPrefix"/> + 0 to 3 (each a ledger of 64 bits), so that later runs over the same
/// drift show the same hashes. Anyone who can read those entries can read the sink's rows themselves.
/// </summary>
public sealed class SampleKey
{
    public const string EntryPrefix = "#verify-key/";

    private const int Words = 4;

    private readonly byte[] _secret;

    private SampleKey(byte[] secret, bool stored)
    {
        _secret = secret;
        Stored = stored;
    }

    /// <summary>The secret came from the sink (or was given): nothing to store.</summary>
    public bool Stored { get; }

    /// <summary>A given secret: the UTF-8 bytes of <paramref name="secret"/> (at least 16 characters).</summary>
    public static SampleKey Given(string secret)
    {
        ArgumentException.ThrowIfNullOrEmpty(secret);
        return new SampleKey(Encoding.UTF8.GetBytes(secret), stored: true);
    }

    /// <summary>The secret stored in a materializer's checkpoint, or a new random one of 256 bits.</summary>
    public static SampleKey FromCheckpoint(IReadOnlyDictionary<string, StreamPosition> checkpoint)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        var secret = new byte[Words * sizeof(long)];
        for (var i = 0; i < Words; i++)
        {
            if (!checkpoint.TryGetValue(EntryPrefix + i.ToString(CultureInfo.InvariantCulture), out var word))
            {
                return new SampleKey(RandomNumberGenerator.GetBytes(Words * sizeof(long)), stored: false);
            }

            BinaryPrimitives.WriteInt64BigEndian(secret.AsSpan(i * sizeof(long)), word.Ledger);
        }

        return new SampleKey(secret, stored: true);
    }

    /// <summary>Whether a checkpoint entry holds part of the secret rather than a stream's position.</summary>
    public static bool IsEntry(string name) => name.StartsWith(EntryPrefix, StringComparison.Ordinal);

    /// <summary>The checkpoint entries that keep a generated secret; none when it is stored already or given.</summary>
    public IReadOnlyDictionary<string, StreamPosition> Entries()
    {
        var entries = new Dictionary<string, StreamPosition>(StringComparer.Ordinal);
        if (!Stored)
        {
            for (var i = 0; i < Words; i++)
            {
                entries[EntryPrefix + i.ToString(CultureInfo.InvariantCulture)] = new(BinaryPrimitives.ReadInt64BigEndian(_secret.AsSpan(i * sizeof(long))), 0, 0);
            }
        }

        return entries;
    }

    /// <summary>The hash a report shows for a key: the first 64 bits of HMAC-SHA256 of its canonical
    /// text under the secret, as 16 hex digits.</summary>
    public string HashOf(string canonical)
    {
        ArgumentNullException.ThrowIfNull(canonical);
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(_secret, Encoding.UTF8.GetBytes(canonical), mac);
        return Convert.ToHexStringLower(mac[..8]);
    }
}
