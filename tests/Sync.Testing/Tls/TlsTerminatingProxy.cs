using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Sync.Testing.Process;

namespace Sync.Testing.Tls;

/// <summary>
/// Puts TLS in front of a plain TCP server (a fake that speaks only HTTP): accepts TLS with the
/// given certificate, sending its issuing CA along (SslStream sends intermediates, never a
/// self-signed root), so that a client can match that CA's fingerprint; pipes the decrypted
/// bytes both ways.
/// </summary>
public sealed class TlsTerminatingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly SslStreamCertificateContext _certificate;
    private readonly IPEndPoint _backend;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;

    public TlsTerminatingProxy(TestCertificates certificates, Uri backend)
    {
        ArgumentNullException.ThrowIfNull(certificates);
        ArgumentNullException.ThrowIfNull(backend);
        _certificate = SslStreamCertificateContext.Create(certificates.ServerCertificate, [certificates.IssuerCertificate], offline: true);
        _backend = new IPEndPoint(IPAddress.Parse(backend.Host), backend.Port);
        _listener.Start();
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    private Task AcceptLoopAsync() => AcceptLoop.RunAsync(_listener.AcceptTcpClientAsync, client => _ = Task.Run(() => ServeAsync(client)), _stop.Token);

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        using (var backend = new TcpClient())
        {
            await using var tls = new SslStream(client.GetStream());
            try
            {
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificateContext = _certificate }, _stop.Token);
            }
            catch (Exception e) when (e is System.Security.Authentication.AuthenticationException or IOException or OperationCanceledException)
            {
                // The client gave up on the handshake (it refused the certificate).
                return;
            }
            try
            {
                await backend.ConnectAsync(_backend, _stop.Token);
                var plain = backend.GetStream();
                await Task.WhenAny(tls.CopyToAsync(plain, _stop.Token), plain.CopyToAsync(tls, _stop.Token));
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // One side closed: the other goes with it.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _acceptLoop;
        _stop.Dispose();
    }
}
