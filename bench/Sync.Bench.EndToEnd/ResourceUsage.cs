using System.Runtime.InteropServices;

namespace Sync.Bench.EndToEnd;

/// <summary>Figures of getrusage(2) (Linux): unlike /proc/self/task, they keep counting the threads
/// that have ended, and RUSAGE_CHILDREN is the only way to read an ended child's CPU.</summary>
internal static class ResourceUsage
{
    private const int Self = 0;
    private const int Children = -1;

    // The index of ru_nvcsw among the fourteen longs that follow the two timevals of struct rusage.
    private const int VoluntarySwitchesField = 12;

    /// <summary>User and system CPU of this process's children that have ended and been waited for.</summary>
    public static double ChildrenCpuSeconds() =>
        getrusage(Children, out var usage) == 0 ? usage.CpuSeconds : double.NaN;

    /// <summary>Voluntary context switches (a thread going to sleep: waits for work or I/O) of every
    /// thread this process has had, ended ones included; 0 where getrusage is not there.</summary>
    public static long VoluntarySwitches()
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }

        return getrusage(Self, out var usage) == 0 ? usage.Rest[VoluntarySwitchesField] : 0;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int getrusage(int who, out Usage usage);

    /// <summary>struct rusage on 64-bit Linux: two timevals, then fourteen longs.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Usage
    {
        public long UserSeconds;
        public long UserMicroseconds;
        public long SystemSeconds;
        public long SystemMicroseconds;
        [MarshalAs(UnmanagedType.ByValArray, SizeConst = 14)]
        public long[] Rest;

        public readonly double CpuSeconds => UserSeconds + UserMicroseconds / 1e6 + SystemSeconds + SystemMicroseconds / 1e6;
    }
}
