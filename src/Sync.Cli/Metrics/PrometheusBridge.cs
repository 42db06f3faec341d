using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using Prometheus;

namespace Sync.Cli.Metrics;

/// <summary>Publishes the instruments of the given meters in a prometheus-net registry, named by
/// the Prometheus conventions (https://prometheus.io/docs/practices/naming/): the meter and the
/// instrument name in snake case, the unit as a base-unit suffix (<c>s</c> → <c>_seconds</c>,
/// <c>By</c> → <c>_bytes</c>), and counters as counters ending in <c>_total</c>.
/// <para>prometheus-net's own MeterAdapter exports every .NET counter as a gauge, without the
/// suffixes, so a <c>rate()</c> on it is wrong by type and its names say neither what they count
/// nor in which unit.</para></summary>
internal sealed class PrometheusBridge : IDisposable
{
    private readonly IMetricFactory _factory;
    private readonly Func<Instrument, double[]> _buckets;
    private readonly HashSet<string> _meters;
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Instrument, Export> _exports = new();
    private readonly Lock _observing = new();
    private volatile bool _disposed;

    public PrometheusBridge(CollectorRegistry registry, IEnumerable<string> meters, Func<Instrument, double[]> buckets)
    {
        _factory = Prometheus.Metrics.WithCustomRegistry(registry);
        _buckets = buckets;
        _meters = [.. meters];
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (_meters.Contains(instrument.Meter.Name))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
        _listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        _listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        _listener.Start();
        registry.AddBeforeCollectCallback(() =>
        {
            if (_disposed)
            {
                return;
            }

            // Observable counters are observed cumulative values turned into increments: one
            // scrape at a time, so that two concurrent ones do not both add the same difference.
            lock (_observing)
            {
                _listener.RecordObservableInstruments();
            }
        });
    }

    /// <summary>The Prometheus name of an instrument: <c>{meter}_{name}[_{unit}][_total]</c>.</summary>
    public static string NameOf(Instrument instrument)
    {
        var name = SnakeCase($"{instrument.Meter.Name}_{instrument.Name}");
        var unit = instrument.Unit switch
        {
            "s" => "seconds",
            "By" => "bytes",
            _ => null,
        };
        if (unit is not null && !name.EndsWith($"_{unit}", StringComparison.Ordinal))
        {
            name += $"_{unit}";
        }

        return IsCounter(instrument) && !name.EndsWith("_total", StringComparison.Ordinal) ? name + "_total" : name;
    }

    private static bool IsCounter(Instrument instrument)
    {
        var type = instrument.GetType();
        return type.IsGenericType && type.GetGenericTypeDefinition() is var kind && (kind == typeof(Counter<>) || kind == typeof(ObservableCounter<>));
    }

    private static string SnakeCase(string name)
    {
        var result = new StringBuilder(name.Length);
        foreach (var c in name)
        {
            result.Append(char.IsAsciiLetterOrDigit(c) ? char.ToLowerInvariant(c) : '_');
        }

        return result.ToString();
    }

    private void Record<T>(Instrument instrument, T measurement, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        where T : struct, IConvertible
    {
        // An exception thrown here would disable the instrument for good; a lost sample is better.
        try
        {
            var export = _exports.GetOrAdd(instrument, Create);
            var sorted = tags.ToArray().OrderBy(t => t.Key, StringComparer.Ordinal).ToArray();
            var labels = sorted.Select(t => Convert.ToString(t.Value, CultureInfo.InvariantCulture) ?? "").ToArray();
            export.Record(sorted.Select(t => t.Key).ToArray(), labels, measurement.ToDouble(CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            System.Diagnostics.Trace.WriteLine($"{instrument.Name} was not exported: {e.Message}");
        }
    }

    private Export Create(Instrument instrument)
    {
        var type = instrument.GetType().GetGenericTypeDefinition();
        return type switch
        {
            _ when type == typeof(Counter<>) => new PushedCounter(_factory, instrument),
            _ when type == typeof(ObservableCounter<>) => new ObservedCounter(_factory, instrument),
            _ when type == typeof(Histogram<>) => new ObservedHistogram(_factory, instrument, _buckets(instrument)),
            _ when type == typeof(UpDownCounter<>) => new PushedGauge(_factory, instrument),
            _ => new ObservedGauge(_factory, instrument),
        };
    }

    public void Dispose()
    {
        _disposed = true;
        _listener.Dispose();
    }

    private abstract class Export(Instrument instrument)
    {
        protected string Name { get; } = NameOf(instrument);

        protected string Help { get; } = instrument.Description ?? instrument.Name;

        public abstract void Record(string[] labelNames, string[] labels, double value);
    }

    private sealed class PushedCounter(IMetricFactory factory, Instrument instrument) : Export(instrument)
    {
        public override void Record(string[] labelNames, string[] labels, double value) =>
            factory.CreateCounter(Name, Help, labelNames).WithLabels(labels).Inc(value);
    }

    /// <summary>An observable counter reports its running total; a total that went down belongs to a
    /// counter that started again (a materializer restarted), whose whole value is new.</summary>
    private sealed class ObservedCounter(IMetricFactory factory, Instrument instrument) : Export(instrument)
    {
        private readonly ConcurrentDictionary<string, double> _last = new(StringComparer.Ordinal);

        public override void Record(string[] labelNames, string[] labels, double value)
        {
            var series = string.Join('\u001f', labels);
            var last = _last.TryGetValue(series, out var seen) ? seen : 0;
            _last[series] = value;
            factory.CreateCounter(Name, Help, labelNames).WithLabels(labels).Inc(value >= last ? value - last : value);
        }
    }

    private sealed class ObservedGauge(IMetricFactory factory, Instrument instrument) : Export(instrument)
    {
        public override void Record(string[] labelNames, string[] labels, double value) =>
            factory.CreateGauge(Name, Help, labelNames).WithLabels(labels).Set(value);
    }

    private sealed class PushedGauge(IMetricFactory factory, Instrument instrument) : Export(instrument)
    {
        public override void Record(string[] labelNames, string[] labels, double value) =>
            factory.CreateGauge(Name, Help, labelNames).WithLabels(labels).Inc(value);
    }

    private sealed class ObservedHistogram(IMetricFactory factory, Instrument instrument, double[] buckets) : Export(instrument)
    {
        public override void Record(string[] labelNames, string[] labels, double value) =>
            factory.CreateHistogram(Name, Help, labelNames, new HistogramConfiguration { Buckets = buckets }).WithLabels(labels).Observe(value);
    }
}
