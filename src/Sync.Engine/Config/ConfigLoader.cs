using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Sync.Engine.Config;

/// <summary>Reads a YAML config and validates it purely (no connections, no file checks),
/// reporting every problem at once with file, line and field path.</summary>
public static class ConfigLoader
{
    private static IReadOnlyList<string> TopLevelKeys => ConfigSections.Names;

    public static SyncConfig Load(string file, ComponentTypes types, Func<string, string?>? environment = null)
    {
        string text;
        try
        {
            text = System.IO.File.ReadAllText(file);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Opening a directory fails as a denied access, which would send the reader to the permissions.
            var reason = Directory.Exists(file) ? "it is a directory; give the path of the YAML config file" : e.Message;
            throw new ConfigException([new ConfigProblem(file, 0, string.Empty, $"cannot read the config file: {reason}")]);
        }

        return Parse(text, file, types, environment);
    }

    /// <summary>Parses config text. <paramref name="file"/> names the file in messages and anchors relative paths.</summary>
    public static SyncConfig Parse(string text, string file, ComponentTypes types, Func<string, string?>? environment = null)
    {
        var problems = new List<ConfigProblem>();
        var displayName = System.IO.Path.GetFileName(file);
        var baseDirectory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(file))!;
        var binder = new OptionsBinder(displayName, baseDirectory, problems, environment ?? Environment.GetEnvironmentVariable);

        YamlMappingNode root;
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(text));
            root = stream.Documents.Count > 0 && stream.Documents[0].RootNode is YamlMappingNode m
                ? m
                : throw new ConfigException([new ConfigProblem(displayName, 1, string.Empty, "the config must be a YAML mapping with sources, sinks and materializers")]);
        }
        catch (YamlException e)
        {
            throw new ConfigException([new ConfigProblem(displayName, (int)e.Start.Line, string.Empty, $"invalid YAML: {Inner(e).Message}")]);
        }
        catch (InvalidOperationException)
        {
            // The YAML scanner fails this way on some broken input; name the line it stopped at.
            throw new ConfigException([new ConfigProblem(displayName, LastScannedLine(text), string.Empty, "invalid YAML: the file cannot be read past this line")]);
        }

        YamlMappingNode? Section(string key, bool required)
        {
            if (!root.Children.TryGetValue(new YamlScalarNode(key), out var node))
            {
                if (required)
                {
                    binder.Problem(root, key, $"{key} is required");
                }

                return null;
            }

            if (node is YamlMappingNode mapping)
            {
                return mapping;
            }

            if (node is YamlScalarNode { Value: null or "" })
            {
                return new YamlMappingNode();
            }

            binder.Problem(node, key, $"{key} must be a mapping of names to settings");
            return null;
        }

        foreach (var (keyNode, _) in root.Children)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? string.Empty;
            if (!TopLevelKeys.Contains(key))
            {
                binder.Problem(keyNode, key, $"{key} is not a known key (known: {string.Join(", ", TopLevelKeys)})");
            }
        }

        var sources = BindComponents(binder, Section("sources", required: true), "sources", types.Sources);
        var sinks = BindComponents(binder, Section("sinks", required: true), "sinks", types.Sinks);

        var materializers = new List<KeyValuePair<string, MaterializerOptions>>();
        var materializerSection = Section("materializers", required: true);
        if (materializerSection is not null)
        {
            if (materializerSection.Children.Count == 0)
            {
                binder.Problem(materializerSection, "materializers", "materializers must name at least one materializer");
            }

            foreach (var (name, node) in Named(materializerSection))
            {
                var path = $"materializers.{name}";
                var options = binder.Bind<MaterializerOptions>(node, path, "target");
                BindTarget(binder, node, path, options, sinks, types);
                materializers.Add(new(name, options));
                CheckReference(binder, path, "source", options.Source, Declared(root, "sources"));
                if (sources.TryGetValue(options.Source, out var source) && source.Options is ITopicSourceOptions topicSource)
                {
                    foreach (var message in topicSource.CheckTopics(path, options.Topics, options.TopicPattern))
                    {
                        binder.Problem(binder.Lines.GetValueOrDefault($"{path}.topicPattern", binder.Lines.GetValueOrDefault(path)), $"{path}.topicPattern", message);
                    }
                }

                if (options.DeadLetterTarget == DeadLetterKind.Topic && sources.TryGetValue(options.Source, out var own) && own.Options is not ITopicSourceOptions)
                {
                    binder.Problem(binder.Lines.GetValueOrDefault($"{path}.deadLetterTarget", binder.Lines.GetValueOrDefault(path)), $"{path}.deadLetterTarget",
                        $"{path}.deadLetterTarget (topic) needs a {string.Join(" or ", types.TopicSources)} source to publish to; source {options.Source} is of type {own.Type}");
                }

                if (options.DeadLetterTarget == DeadLetterKind.Table && sinks.TryGetValue(options.Sink, out var ownSink) && !types.DeadLetterTableSinks.Contains(ownSink.Type))
                {
                    binder.Problem(binder.Lines.GetValueOrDefault($"{path}.deadLetterTarget", binder.Lines.GetValueOrDefault(path)), $"{path}.deadLetterTarget",
                        $"{path}.deadLetterTarget (table) needs a sink that keeps a dead-letter table ({string.Join(", ", types.DeadLetterTableSinks.Order(StringComparer.Ordinal))}); sink {options.Sink} is of type {ownSink.Type}: use topic or file");
                }

                CheckReference(binder, path, "sink", options.Sink, Declared(root, "sinks"));
                if (!types.Formats.Contains(options.Format))
                {
                    binder.Problem(binder.Lines.GetValueOrDefault($"{path}.format"), $"{path}.format",
                        $"{path}.format ({options.Format}) must be one of: {string.Join(", ", types.Formats)}");
                }
            }
        }

        var subjectSection = Section("subjects", required: false);
        var subjects = BindSubjects(binder, subjectSection, materializers.Select(m => m.Key).ToHashSet(StringComparer.Ordinal));
        var erasureSection = Section("erasure", required: false);
        var erasure = erasureSection is null ? new ErasureOptions() : binder.Bind<ErasureOptions>(erasureSection, "erasure");
        CheckLedger(binder, erasure.Ledger, sources, sinks, types);
        var errorsSection = Section("errors", required: false);
        var errors = errorsSection is null ? new ErrorsOptions() : binder.Bind<ErrorsOptions>(errorsSection, "errors");
        var groups = BindConsistencyGroups(binder, Section(ConfigSections.Consistency, required: false), materializers, sources, sinks, types);
        if (subjects.Count > 0 && string.IsNullOrEmpty(erasure.Secret))
        {
            // A secret that names an unset variable was reported as such; advising the reference
            // the file already holds would send the reader in a circle.
            var written = erasureSection?.Children.TryGetValue(new YamlScalarNode("secret"), out var node) == true ? (node as YamlScalarNode)?.Value : null;
            if (written is null || !written.Contains("${", StringComparison.Ordinal))
            {
                binder.Problem(erasureSection ?? (YamlNode?)subjectSection ?? root, "erasure.secret",
                    written is null
                        ? "erasure.secret is required when subjects are configured (the keyed hash of erased keys); add secret: '${SYNC_ERASURE_SECRET}' under erasure and set that variable to at least 16 random characters"
                        : "erasure.secret is empty, but it is required when subjects are configured (the keyed hash of erased keys); write secret: '${SYNC_ERASURE_SECRET}' and set that variable to at least 16 random characters");
            }
        }

        if (problems.Count > 0)
        {
            throw new ConfigException(problems.OrderBy(p => p.Line).ToList());
        }

        return new SyncConfig
        {
            FilePath = System.IO.Path.GetFullPath(file),
            BaseDirectory = baseDirectory,
            Sources = sources,
            Sinks = sinks,
            Materializers = materializers,
            Subjects = subjects,
            Erasure = erasure,
            Errors = errors,
            ConsistencyGroups = groups,
        };
    }

    /// <summary>Consistency groups: members are configured materializers, in one group at most, reading
    /// one source in order and writing one sink that applies transactions (postgres, sqlite).</summary>
    private static List<KeyValuePair<string, ConsistencyGroupOptions>> BindConsistencyGroups(
        OptionsBinder binder,
        YamlMappingNode? section,
        List<KeyValuePair<string, MaterializerOptions>> materializers,
        Dictionary<string, ComponentConfig> sources,
        Dictionary<string, ComponentConfig> sinks,
        ComponentTypes types)
    {
        var result = new List<KeyValuePair<string, ConsistencyGroupOptions>>();
        var grouped = new Dictionary<string, string>(StringComparer.Ordinal);
        var byName = materializers.ToDictionary(m => m.Key, m => m.Value, StringComparer.Ordinal);
        foreach (var (name, node) in Named(section))
        {
            var path = $"{ConfigSections.Consistency}.{name}";
            var group = binder.Bind<ConsistencyGroupOptions>(node, path);
            result.Add(new(name, group));
            var line = binder.Lines.GetValueOrDefault($"{path}.materializers", binder.Lines.GetValueOrDefault(path));
            void Problem(string message) => binder.Problem(line, $"{path}.materializers", message);

            var members = new List<(string Name, MaterializerOptions Options)>();
            foreach (var member in group.Materializers.Distinct(StringComparer.Ordinal))
            {
                if (!byName.TryGetValue(member, out var options))
                {
                    Problem($"{path}.materializers: {member} does not name a configured materializer (known: {string.Join(", ", byName.Keys.Order(StringComparer.Ordinal))})");
                    continue;
                }

                if (grouped.TryGetValue(member, out var other))
                {
                    Problem($"{path}.materializers: {member} is already in consistency group {other}; a materializer belongs to one group at most");
                    continue;
                }

                grouped[member] = name;
                members.Add((member, options));
            }

            if (members.Count == 0)
            {
                continue;
            }

            var memberSinks = members.Select(m => m.Options.Sink).Distinct(StringComparer.Ordinal).ToList();
            if (memberSinks.Count > 1)
            {
                Problem($"{path}.materializers must all write into one sink, so that one sink transaction holds a source transaction; they write into {string.Join(", ", memberSinks)}");
            }
            else if (sinks.TryGetValue(memberSinks[0], out var sink) && !types.TransactionalSinks.Contains(sink.Type))
            {
                Problem($"{path}.materializers write into sink {sink.Name} of type {sink.Type}, which cannot apply several tables in one transaction; a consistency group needs a sink of type {string.Join(" or ", types.TransactionalSinks.Order(StringComparer.Ordinal))} (the materializers can still read these topics outside the group)");
            }

            var memberSources = members.Select(m => m.Options.Source).Distinct(StringComparer.Ordinal).ToList();
            if (memberSources.Count > 1)
            {
                Problem($"{path}.materializers must all read one source, the one that carries {path}.transactions; they read {string.Join(", ", memberSources)}");
            }
            else if (sources.TryGetValue(memberSources[0], out var source) && source.Options is ITopicSourceOptions { UnorderedBecause: { } reason })
            {
                Problem($"{path}.materializers read source {source.Name}, whose {reason}; a consistency group needs every change of a transaction in one process, in order: use subscriptionType failover or exclusive");
            }

            foreach (var (member, options) in members)
            {
                if (ReadsTopic(options, group.Transactions))
                {
                    binder.Problem(binder.Lines.GetValueOrDefault($"{path}.transactions", line), $"{path}.transactions",
                        $"{path}.transactions ({group.Transactions}) is among the topics of materializer {member}; the transaction topic carries no rows: narrow {member}'s topics or topicPattern");
                }
            }
        }

        return result;
    }

    private static bool ReadsTopic(MaterializerOptions options, string topic)
    {
        try
        {
            return options.TopicFilter()(topic);
        }
        catch (ArgumentException)
        {
            // An invalid pattern, reported with the materializer.
            return false;
        }
    }

    /// <summary>The entries of a section that maps names to settings; none when the section is absent.</summary>
    private static IEnumerable<(string Name, YamlNode Node)> Named(YamlMappingNode? section) =>
        section is null ? [] : section.Children.Select(entry => (((YamlScalarNode)entry.Key).Value ?? string.Empty, entry.Value));

    private static Dictionary<string, ComponentConfig> BindComponents(OptionsBinder binder, YamlMappingNode? section, string sectionName, IReadOnlyDictionary<string, Type> known)
    {
        var result = new Dictionary<string, ComponentConfig>(StringComparer.Ordinal);
        foreach (var (name, node) in Named(section))
        {
            var path = $"{sectionName}.{name}";
            if (node is not YamlMappingNode mapping)
            {
                binder.Problem(node, path, $"{path} must be a mapping with a type and its settings");
                continue;
            }

            var knownTypes = string.Join(", ", known.Keys.Order(StringComparer.Ordinal));
            if (!mapping.Children.TryGetValue(new YamlScalarNode("type"), out var typeNode))
            {
                binder.Problem(mapping, $"{path}.type", $"{path}.type is required (one of: {knownTypes})");
                continue;
            }

            var type = binder.Scalar(typeNode, $"{path}.type") ?? string.Empty;
            if (!known.TryGetValue(type, out var optionsType))
            {
                binder.Problem(typeNode, $"{path}.type", $"{path}.type ({type}) must be one of: {knownTypes}");
                continue;
            }

            var options = binder.Bind(optionsType, mapping, path, "type");
            result[name] = new ComponentConfig(name, type, options, OptionsBinder.Line(mapping));
        }

        return result;
    }

    private static void BindTarget(OptionsBinder binder, YamlNode node, string path, MaterializerOptions options, Dictionary<string, ComponentConfig> sinks, ComponentTypes types)
    {
        if (!sinks.TryGetValue(options.Sink, out var sink))
        {
            return;
        }

        var targetType = types.SinkTargets.GetValueOrDefault(sink.Type);
        var targetNode = node is YamlMappingNode mapping && mapping.Children.TryGetValue(new YamlScalarNode("target"), out var t) ? t : null;
        if (targetNode is null)
        {
            options.Target = targetType is null ? null : binder.Bind(targetType, new YamlMappingNode(), $"{path}.target");
            return;
        }

        if (targetType is null)
        {
            binder.Problem(targetNode, $"{path}.target", $"{path}.target: sinks of type {sink.Type} take no target settings");
            return;
        }

        options.Target = binder.Bind(targetType, targetNode, $"{path}.target");
    }

    /// <summary>Names declared in a section, including those whose settings have problems, so that
    /// a reference to them is not reported as well.</summary>
    private static IEnumerable<string> Declared(YamlMappingNode root, string section) =>
        root.Children.TryGetValue(new YamlScalarNode(section), out var node) && node is YamlMappingNode mapping
            ? mapping.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value ?? string.Empty)
            : [];

    /// <summary>A shared ledger names a postgres sink, or a topic on a source with topics.</summary>
    private static void CheckLedger(OptionsBinder binder, LedgerOptions ledger, Dictionary<string, ComponentConfig> sources, Dictionary<string, ComponentConfig> sinks, ComponentTypes types)
    {
        const string path = "erasure.ledger";
        if (ledger.Postgres is { } sinkName && !(sinks.TryGetValue(sinkName, out var sink) && types.LedgerSinks.Contains(sink.Type)))
        {
            var hosts = sinks.Values.Where(s => types.LedgerSinks.Contains(s.Type)).Select(s => s.Name).Order(StringComparer.Ordinal).ToList();
            binder.Problem(binder.Lines.GetValueOrDefault($"{path}.postgres"), $"{path}.postgres",
                $"{path}.postgres ({sinkName}) must name a sink of type {string.Join(" or ", types.LedgerSinks.Order(StringComparer.Ordinal))} (such sinks: {(hosts.Count == 0 ? "none" : string.Join(", ", hosts))})");
        }

        if (ledger.Topic is not null)
        {
            var topicSources = sources.Values.Where(s => s.Options is ITopicSourceOptions).Select(s => s.Name).Order(StringComparer.Ordinal).ToList();
            var kinds = string.Join(" or ", types.TopicSources);
            if (ledger.Source is { } sourceName)
            {
                if (!topicSources.Contains(sourceName))
                {
                    binder.Problem(binder.Lines.GetValueOrDefault($"{path}.source"), $"{path}.source",
                        $"{path}.source ({sourceName}) must name a {kinds} source (known: {(topicSources.Count == 0 ? "none" : string.Join(", ", topicSources))})");
                }
            }
            else if (topicSources.Count != 1)
            {
                binder.Problem(binder.Lines.GetValueOrDefault($"{path}.topic"), $"{path}.source",
                    topicSources.Count == 0
                        ? $"{path}.topic needs a {kinds} source whose cluster holds it; none is configured"
                        : $"{path}.source is required with {path}.topic when several {kinds} sources are configured ({string.Join(", ", topicSources)})");
            }
        }
    }

    private static void CheckReference(OptionsBinder binder, string path, string field, string value, IEnumerable<string> names)
    {
        if (value.Length == 0 || names.Contains(value))
        {
            return;
        }

        var known = string.Join(", ", names.Order(StringComparer.Ordinal));
        binder.Problem(binder.Lines.GetValueOrDefault($"{path}.{field}"), $"{path}.{field}",
            $"{path}.{field} ({value}) does not name a configured {field} (known: {(known.Length == 0 ? "none" : known)})");
    }

    private static Dictionary<string, SubjectConfig> BindSubjects(OptionsBinder binder, YamlMappingNode? section, HashSet<string> materializers)
    {
        var result = new Dictionary<string, SubjectConfig>(StringComparer.Ordinal);
        foreach (var (name, node) in Named(section))
        {
            var path = $"subjects.{name}";
            if (node is not YamlMappingNode mapping || mapping.Children.Count == 0)
            {
                binder.Problem(node, path, $"{path} must map materializer names to {{ key: COLUMN }} or {{ field: COLUMN }}");
                continue;
            }

            var bindings = new List<SubjectBinding>();
            foreach (var (materializerNode, bindingNode) in mapping.Children)
            {
                var materializer = ((YamlScalarNode)materializerNode).Value ?? string.Empty;
                var bindingPath = $"{path}.{materializer}";
                if (!materializers.Contains(materializer))
                {
                    binder.Problem(materializerNode, bindingPath, $"{bindingPath}: {materializer} does not name a configured materializer");
                }

                var binding = binder.Bind<SubjectBindingOptions>(bindingNode, bindingPath);
                bindings.Add(new SubjectBinding(materializer, binding.Key, binding.Field));
            }

            result[name] = new SubjectConfig(name, bindings);
        }

        return result;
    }

    private static int LastScannedLine(string text)
    {
        var scanner = new Scanner(new StringReader(text));
        var line = 1;
        try
        {
            while (scanner.MoveNext())
            {
                line = (int)scanner.Current!.End.Line;
            }
        }
        catch (Exception e) when (e is YamlException or InvalidOperationException)
        {
            // Stopped where the input breaks.
        }

        return line;
    }

    private static Exception Inner(YamlException e) => e.InnerException is YamlException inner ? Inner(inner) : e;
}

/// <summary>How one materializer identifies a subject: by a key column or by a row column.</summary>
public sealed class SubjectBindingOptions : IValidatable
{
    [System.ComponentModel.Description("Key column of the message key that identifies the subject.")]
    public string? Key { get; set; }

    [System.ComponentModel.Description("Row column that holds the subject's id, for rows keyed by something else.")]
    public string? Field { get; set; }

    public IReadOnlyList<string> Validate(string path) => (Key, Field) switch
    {
        (not null, not null) => [$"{path}.field ({Field}) and key ({Key}) are both set: exactly one of key and field must be set"],
        (null, null) => [$"{path}: exactly one of key and field must be set"],
        ({ } key, _) when string.IsNullOrWhiteSpace(key) => [$"{path}.key ('{key}') must name a key column"],
        (_, { } field) when string.IsNullOrWhiteSpace(field) => [$"{path}.field ('{field}') must name a row column"],
        _ => [],
    };
}
