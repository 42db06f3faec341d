using System.Diagnostics;
using Prometheus;

namespace Sync.Cli.Metrics;

/// <summary>The process and .NET runtime metrics, read at each scrape. The process ones carry the
/// names every Prometheus client library uses (client_golang's process collector:
/// <c>process_cpu_seconds_total</c>, <c>process_resident_memory_bytes</c>, <c>process_open_fds</c>,
/// ...), so dashboards and alerts written for any exporter work; prometheus-net's DotNetStats names
/// some of them its own way (<c>process_working_set_bytes</c>, <c>process_open_handles</c>).</summary>
internal sealed class ProcessMetrics
{
    private readonly Process _process = Process.GetCurrentProcess();
    private readonly Lock _refreshing = new();
    private readonly Counter _cpu;
    private readonly Gauge _resident;
    private readonly Gauge _virtual;
    private readonly Gauge _openFds;
    private readonly Gauge _maxFds;
    private readonly Gauge _threads;
    private readonly Counter _collections;
    private readonly Gauge _heap;
    private readonly Counter _allocated;
    private readonly Counter _pause;
    private readonly Gauge _poolThreads;
    private readonly Gauge _poolQueue;
    private readonly Counter _poolCompleted;

    private ProcessMetrics(CollectorRegistry registry)
    {
        var metrics = Prometheus.Metrics.WithCustomRegistry(registry);
        metrics.CreateGauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.")
            .Set(new DateTimeOffset(_process.StartTime.ToUniversalTime()).ToUnixTimeMilliseconds() / 1000.0);
        _cpu = metrics.CreateCounter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.");
        _resident = metrics.CreateGauge("process_resident_memory_bytes", "Resident memory size in bytes.");
        _virtual = metrics.CreateGauge("process_virtual_memory_bytes", "Virtual memory size in bytes.");
        _openFds = metrics.CreateGauge("process_open_fds", "Number of open file descriptors.");
        _maxFds = metrics.CreateGauge("process_max_fds", "Maximum number of open file descriptors.");
        _threads = metrics.CreateGauge("process_threads", "Operating system threads of the process.");
        _collections = metrics.CreateCounter("dotnet_gc_collections_total", "Garbage collections since the process started, by generation.", "generation");
        _heap = metrics.CreateGauge("dotnet_gc_heap_size_bytes", "Bytes of the managed heap, objects and fragmentation, after the last collection.");
        _allocated = metrics.CreateCounter("dotnet_gc_allocated_bytes_total", "Bytes allocated on the managed heap since the process started.");
        _pause = metrics.CreateCounter("dotnet_gc_pause_seconds_total", "Time the garbage collector paused the process since it started.");
        _poolThreads = metrics.CreateGauge("dotnet_threadpool_threads", "Thread pool threads.");
        _poolQueue = metrics.CreateGauge("dotnet_threadpool_queue_length", "Work items queued to the thread pool and not yet started.");
        _poolCompleted = metrics.CreateCounter("dotnet_threadpool_completed_items_total", "Work items the thread pool completed since the process started.");
        registry.AddBeforeCollectCallback(Refresh);
    }

    public static void Register(CollectorRegistry registry) => _ = new ProcessMetrics(registry);

    private void Refresh()
    {
        // Process is not thread-safe; two scrapes at once read it one after the other.
        lock (_refreshing)
        {
            _process.Refresh();
            IncreaseTo(_cpu, _process.TotalProcessorTime.TotalSeconds);
            _resident.Set(_process.WorkingSet64);
            _virtual.Set(_process.VirtualMemorySize64);
            _openFds.Set(OpenFileDescriptors() ?? _process.HandleCount);
            if (MaxFileDescriptors() is { } max)
            {
                _maxFds.Set(max);
            }

            _threads.Set(_process.Threads.Count);
            for (var generation = 0; generation <= GC.MaxGeneration; generation++)
            {
                IncreaseTo(_collections.WithLabels(generation.ToString(System.Globalization.CultureInfo.InvariantCulture)), GC.CollectionCount(generation));
            }

            _heap.Set(GC.GetGCMemoryInfo().HeapSizeBytes);
            IncreaseTo(_allocated, GC.GetTotalAllocatedBytes());
            IncreaseTo(_pause, GC.GetTotalPauseDuration().TotalSeconds);
            _poolThreads.Set(ThreadPool.ThreadCount);
            _poolQueue.Set(ThreadPool.PendingWorkItemCount);
            IncreaseTo(_poolCompleted, ThreadPool.CompletedWorkItemCount);
        }
    }

    private static void IncreaseTo(ICounter counter, double total) => counter.Inc(Math.Max(0, total - counter.Value));

    // Linux names every open descriptor in /proc/self/fd; elsewhere the handle count stands in.
    private static int? OpenFileDescriptors()
    {
        try
        {
            return Directory.Exists("/proc/self/fd") ? Directory.EnumerateFileSystemEntries("/proc/self/fd").Count() : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    // "Max open files  1024  1048576  files": the soft limit is the one the process runs into.
    private static long? MaxFileDescriptors()
    {
        try
        {
            var line = File.Exists("/proc/self/limits") ? File.ReadLines("/proc/self/limits").FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal)) : null;
            var soft = line?["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            return long.TryParse(soft, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var max) ? max : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
