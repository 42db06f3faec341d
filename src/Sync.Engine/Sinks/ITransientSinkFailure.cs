namespace Sync.Engine.Sinks;

/// <summary>Marks a sink failure that outlasted the sink's own retries but that time may still fix
/// (the store stays unreachable or busy): the engine keeps the batch, reports the materializer
/// degraded and tries again later instead of stopping it.</summary>
public interface ITransientSinkFailure
{
}
