using System.Net;

namespace Sync.Cli.Metrics;

/// <summary>Where <c>/metrics</c>, <c>/healthz</c> and <c>/readyz</c> are served: <c>--metrics-address</c>
/// and <c>--metrics-port</c>.</summary>
internal sealed record MetricsEndpoint(string Address, int Port)
{
    /// <summary>The default address: every interface, IPv4 and IPv6, as before the option existed.</summary>
    public const string AllInterfaces = "0.0.0.0";

    /// <summary>True for the addresses that mean every interface: 0.0.0.0, :: and *.</summary>
    public bool IsAllInterfaces => Address is AllInterfaces or "::" or "*";

    /// <summary>The address to bind, unless <see cref="IsAllInterfaces"/>.</summary>
    public IPAddress? Ip => IsAllInterfaces ? null : Address == "localhost" ? IPAddress.Loopback : IPAddress.Parse(Address);

    /// <summary>The HttpListener prefix. On a given address the listener answers requests whose Host
    /// names that address (HttpListener matches the prefix's host against it).</summary>
    public string Prefix(int port) => IsAllInterfaces
        ? $"http://*:{port}/"
        : Ip!.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"http://[{Ip}]:{port}/" : $"http://{Address}:{port}/";

    /// <summary>Null when <paramref name="address"/> can be served, else why not, in a sentence.</summary>
    public static string? Problem(string address) =>
        address is AllInterfaces or "::" or "*" or "localhost" || IsIpLiteral(address)
            ? null
            : $"--metrics-address ({address}) is not an IP address: give one of this host's addresses, such as 127.0.0.1 or ::1 to serve this host only, or {AllInterfaces} (the default) for every interface";

    // IPAddress.TryParse also takes "1" (0.0.0.1) and "10.1" (10.0.0.1): only the full forms count.
    private static bool IsIpLiteral(string address) =>
        IPAddress.TryParse(address, out var ip) && (ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            ? address.Contains(':', StringComparison.Ordinal) && ip.ScopeId == 0
            : address.Count(c => c == '.') == 3);
}
