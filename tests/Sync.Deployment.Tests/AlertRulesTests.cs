using System.Text.Json;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Sync.Deployment.Tests;

/// <summary>compose/prometheus/sync-alerts.yml and compose/grafana/sync-dashboard.json: promtool
/// accepts and unit-tests the rules, and every sync_* name they use is one that a real
/// <c>sync run --metrics-port</c> exports (so a renamed metric breaks this test, not an alert).</summary>
[Collection(RunningSyncCollection.Name)]
public sealed partial class AlertRulesTests(RunningSync sync)
{
    private static readonly string RulesFolder = Path.Combine(ComposeStack.Folder, "prometheus");
    private static readonly string RulesPath = Path.Combine(RulesFolder, "sync-alerts.yml");
    private static readonly string RuleTestsPath = Path.Combine(RulesFolder, "sync-alerts.test.yml");
    private static readonly string DashboardPath = Path.Combine(ComposeStack.Folder, "grafana", "sync-dashboard.json");

    [PromtoolFact]
    public async Task Promtool_checks_the_rules()
    {
        var result = await Promtool.RunAsync(RulesFolder, "check", "rules", RulesPath);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains($"SUCCESS: {Alerts().Count} rules found", result.Output + result.Error, StringComparison.Ordinal);
    }

    [PromtoolFact]
    public async Task The_rules_pass_their_promtool_unit_tests()
    {
        var result = await Promtool.RunAsync(RulesFolder, "test", "rules", RuleTestsPath);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("SUCCESS", result.Output + result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_alert_has_a_unit_test_and_a_severity_and_summary()
    {
        var tested = Yaml.Load(RuleTestsPath).Seq("tests").Children.Cast<YamlMappingNode>()
            .SelectMany(t => t.Seq("alert_rule_test").Children.Cast<YamlMappingNode>())
            .Where(t => t.Seq("exp_alerts").Children.Count > 0)
            .Select(t => t.Text("alertname"))
            .ToHashSet(StringComparer.Ordinal);

        foreach (var alert in Alerts())
        {
            Assert.True(tested.Contains(alert.Text("alert")), $"{alert.Text("alert")} has no promtool test in which it fires");
            Assert.Contains(alert.Map("labels").Text("severity"), new[] { "critical", "warning" });
            Assert.False(string.IsNullOrWhiteSpace(alert.Map("annotations").Text("summary")));
        }

        // What issue 18 asks the rules to catch, with the metrics that exist for it.
        var expressions = string.Join('\n', Alerts().Select(a => a.Text("expr")));
        foreach (var needed in new[] { "sync_materializer_up", "sync_materializer_degraded", "state=\"healing\"", "sync_events_dead_lettered_total", "sync_end_to_end_lag_seconds_bucket" })
        {
            Assert.Contains(needed, expressions, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Every_sync_metric_the_rules_and_their_tests_name_is_exported_by_sync_run()
    {
        foreach (var path in new[] { RulesPath, RuleTestsPath })
        {
            var names = SyncMetric().Matches(File.ReadAllText(path)).Select(m => m.Value).Distinct().ToList();
            Assert.NotEmpty(names);
            foreach (var name in names)
            {
                Assert.True(sync.Exports(name), $"{Path.GetFileName(path)} names {name}, which sync run does not export (it exports {string.Join(", ", sync.MetricNames.Order(StringComparer.Ordinal))})");
            }
        }
    }

    [Fact]
    public void The_dashboard_queries_only_metrics_that_sync_run_exports()
    {
        using var dashboard = JsonDocument.Parse(File.ReadAllText(DashboardPath));
        var panels = dashboard.RootElement.GetProperty("panels").EnumerateArray().ToList();
        var expressions = panels.SelectMany(p => p.GetProperty("targets").EnumerateArray().Select(t => t.GetProperty("expr").GetString()!)).ToList();

        Assert.NotEmpty(panels);
        Assert.All(panels, p => Assert.NotEmpty(p.GetProperty("targets").EnumerateArray()));
        Assert.Equal(panels.Count, panels.Select(p => p.GetProperty("id").GetInt32()).Distinct().Count());
        var variables = dashboard.RootElement.GetProperty("templating").GetProperty("list").EnumerateArray().Select(v => v.GetProperty("name").GetString()).ToList();
        Assert.Contains("datasource", variables);
        foreach (var name in expressions.Append(File.ReadAllText(DashboardPath)).SelectMany(e => SyncMetric().Matches(e).Select(m => m.Value)).Distinct())
        {
            Assert.True(sync.Exports(name), $"the dashboard queries {name}, which sync run does not export");
        }
    }

    private static List<YamlMappingNode> Alerts() =>
        Yaml.Load(RulesPath).Seq("groups").Children.Cast<YamlMappingNode>()
            .SelectMany(g => g.Seq("rules").Children.Cast<YamlMappingNode>())
            .ToList();

    [GeneratedRegex(@"\bsync_[a-z0-9_]+")]
    private static partial Regex SyncMetric();
}
