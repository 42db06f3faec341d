namespace Sync.Compliance.Erasure.Steps;

/// <summary>One step of an erasure: a typed input (the scope and what earlier steps found) to a typed output.</summary>
public interface IErasureStep<in TInput, TOutput>
{
    Task<TOutput> RunAsync(TInput input, CancellationToken cancellationToken);
}
