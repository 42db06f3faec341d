namespace Sync.Chaos;

public sealed record FuzzResult(int Inputs, int Crashes, int Hangs, int Rejected)
{
    public bool Passed => Crashes == 0 && Hangs == 0;

    public string FigureLine => $"inputs: {Inputs}, crashes: {Crashes}, hangs: {Hangs}, rejected: {Rejected}";
}

public static class FuzzCampaign
{
    public static FuzzResult Run(int inputs, int seed, TextWriter log) => throw new NotImplementedException();
}
