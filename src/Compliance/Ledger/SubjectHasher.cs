using System.Security.Cryptography;
using System.Text;

namespace Sync.Compliance.Ledger;

/// <summary>The keyed hash that stands for a subject's key wherever erasure records it (ledger,
/// reports): HMAC-SHA256 over the subject kind and the key, hex. Without the secret the hash
/// cannot be tested against guessed keys.</summary>
public sealed class SubjectHasher
{
    private readonly byte[] _secret;

    public SubjectHasher(string secret)
    {
        ArgumentException.ThrowIfNullOrEmpty(secret);
        _secret = Encoding.UTF8.GetBytes(secret);
    }

    public string Hash(string subject, string key)
    {
        var input = Encoding.UTF8.GetBytes($"{subject}\n{key}");
        return Convert.ToHexStringLower(HMACSHA256.HashData(_secret, input));
    }
}
