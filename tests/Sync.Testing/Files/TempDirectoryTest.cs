namespace Sync.Testing.Files;

/// <summary>A test class that owns a fresh temp folder, <see cref="Dir"/>, removed with everything in it once the test ends.</summary>
public abstract class TempDirectoryTest : IDisposable
{
    protected TempDirectoryTest(string prefix) => Dir = Directory.CreateTempSubdirectory(prefix).FullName;

    /// <summary>The test's own folder.</summary>
    protected string Dir { get; }

    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            Directory.Delete(Dir, recursive: true);
        }
    }
}
