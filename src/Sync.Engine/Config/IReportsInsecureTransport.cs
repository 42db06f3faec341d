namespace Sync.Engine.Config;

/// <summary>Options of a component that talks to a server over the network. Certificate checks
/// are on by default; an option that turns them (or encryption) off is allowed, but every run
/// says so as a warning, so that it never goes unnoticed.</summary>
public interface IReportsInsecureTransport
{
    /// <summary>One sentence per setting that weakens transport security, naming the field and
    /// its value, e.g. <c>sinks.cache.tls.verifyCertificate is false: the server certificate is
    /// not checked</c>. Empty when everything is verified.</summary>
    /// <param name="path">The options' own path in the config, e.g. <c>sinks.cache</c>.</param>
    IReadOnlyList<string> InsecureTransport(string path);
}
