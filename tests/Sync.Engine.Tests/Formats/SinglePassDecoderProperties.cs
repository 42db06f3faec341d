using FsCheck;
using FsCheck.Xunit;
using static Sync.Engine.Tests.Formats.Messages;

namespace Sync.Engine.Tests.Formats;

/// <summary>The single-pass reader of bare envelopes gives exactly what the JsonDocument path gives:
/// the same change, or the same error message.</summary>
public class SinglePassDecoderProperties
{
    private static readonly DecoderOptions WithKeyColumns = new() { KeyColumns = ["id"] };

    // One pair per options, kept across cases, so that the reader's name and text caches meet
    // changing shapes as a long-running decoder does. Properties of one class run one at a time.
    private static readonly (DebeziumJsonDecoder SinglePass, DebeziumJsonDecoder Document)[] Pairs =
    [
        (new DebeziumJsonDecoder(NoOptions), new DebeziumJsonDecoder(NoOptions, singlePass: false)),
        (new DebeziumJsonDecoder(WithKeyColumns), new DebeziumJsonDecoder(WithKeyColumns, singlePass: false)),
    ];

    [Property(MaxTest = 3000)]
    public void Generated_bare_envelopes_decode_as_the_document_path_decodes_them(DoNotSize<int> unsizedSeed, bool keyColumns)
    {
        // Unsized: FsCheck sizes a plain int to at most the test number, which would repeat the same ~200 envelopes.
        var seed = unsizedSeed.Item;
        var envelope = new EnvelopeWriter(new Random(seed));
        var value = envelope.Envelope();
        var key = envelope.Key();
        var message = new SourceMessage
        {
            Topic = Topic,
            Position = new StreamPosition(3, seed),
            Key = key,
            Value = Encoding.UTF8.GetBytes(value),
            PublishTime = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero),
        };
        var (singlePass, document) = Pairs[keyColumns ? 1 : 0];
        var before = singlePass.SinglePassDecoded;

        var expected = Outcome(document, message);
        var actual = Outcome(singlePass, message);

        Assert.Equal(expected, actual);
        if (envelope.Clean && !expected.StartsWith("error", StringComparison.Ordinal))
        {
            // Not a fallback in disguise: a well-formed bare envelope is the reader's own work.
            Assert.Equal(before + 1, singlePass.SinglePassDecoded);
        }
    }

    [Fact]
    public void The_quick_start_bare_envelopes_are_decoded_in_one_pass_and_equal_the_document_path()
    {
        var singlePass = new DebeziumJsonDecoder(NoOptions);
        var document = new DebeziumJsonDecoder(NoOptions, singlePass: false);
        var lines = File.ReadAllLines(Path.Combine(Sync.Testing.Process.RepoPaths.Examples, "data", "changelog.jsonl"));
        var bare = 0;
        foreach (var line in lines)
        {
            var message = Sync.Engine.Sources.ChangelogLineParser.Parse(Encoding.UTF8.GetBytes(line), StreamPosition.ForLine(1), out _);
            var decodedBefore = singlePass.SinglePassDecoded;
            var expected = Outcome(document, message);
            Assert.Equal(expected, Outcome(singlePass, message));
            if (!message.IsTombstone && !line.Contains("\"value\":{\"schema\"", StringComparison.Ordinal) && !expected.StartsWith("error", StringComparison.Ordinal))
            {
                bare++;
                Assert.Equal(decodedBefore + 1, singlePass.SinglePassDecoded);
            }
        }

        Assert.True(bare > 0, "the quick start changelog has bare envelopes");
    }

    /// <summary>The change as text that shows every field, value kind and value, or the error message.</summary>
    private static string Outcome(IMessageDecoder decoder, SourceMessage message)
    {
        ChangeEvent change;
        try
        {
            change = decoder.Decode(message);
        }
        catch (DecodeException e)
        {
            return "error: " + e.Message;
        }

        var text = new StringBuilder();
        text.Append(change.Op).Append(" ts=").Append(change.TsMs).AppendLine();
        text.Append("key ").AppendLine(Show(change.Key));
        text.Append("before ").AppendLine(Show(change.Before));
        text.Append("after ").AppendLine(Show(change.After));
        text.Append("source ").AppendLine(change.Source?.ToString() ?? "none");
        var origin = change.Origin;
        text.Append("origin ").Append(origin.Topic).Append(' ').Append(origin.Position).Append(' ').Append(origin.Key)
            .Append(' ').Append(origin.PublishTime).Append(' ').Append(origin.EventTime).Append(' ').Append(origin.Properties.Count);
        return text.ToString();
    }

    private static string Show(Row? row)
    {
        if (row is null)
        {
            return "none";
        }

        var text = new StringBuilder(row.Schema is null ? "(schemaless)" : "(schema)");
        for (var i = 0; i < row.Count; i++)
        {
            var value = row.Values[i];
            text.Append(' ').Append(row.Names[i]).Append('=').Append(value.Kind).Append(':').Append(value.ToText() ?? "null");
            if (value.Kind == ValueKind.Timestamp)
            {
                text.Append('/').Append(value.Unit);
            }
        }

        return text.ToString();
    }

    /// <summary>Writes random bare Debezium envelopes: every JSON value kind, nested values, unicode
    /// and escapes, big numbers, nulls, missing images, any property order, whitespace between
    /// tokens; now and then a fault (a duplicate or escaped property name, an unknown op, a lone
    /// surrogate, a wrong kind), after which <see cref="Clean"/> is false.</summary>
    private sealed class EnvelopeWriter(Random random)
    {
        private static readonly string[] Columns = ["id", "name", "email", "country", "created_at", "price", "tags", "meta", "ünïcode", "a b", "x", "日付"];

        private static readonly string[] Texts =
        [
            "", "Ada", "ada@example.com", "GB", "é", "日本語", "😀", "\\\"quoted\\\"", "back\\\\slash", "line\\nbreak", "tab\\t",
            "\\u00e9", "\\ud83d\\ude00", "\\/", "a b c", "null", "1", "\\u0000",
        ];

        private static readonly string[] Numbers =
        [
            "0", "-1", "42", "9223372036854775807", "-9223372036854775808", "9223372036854775808", "-9223372036854775809",
            "123456789012345678901234567890", "12.50", "-0.001", "0.0", "-0", "1e3", "1.5E-7", "-2.5e+10", "1E400", "0.1e-2",
        ];

        private readonly StringBuilder _text = new();

        /// <summary>False once a fault was written: the document path may refuse the message, or the
        /// single-pass reader may leave it to the document path.</summary>
        public bool Clean { get; private set; } = true;

        public string Envelope()
        {
            _text.Clear();
            var parts = new List<Action>();
            var op = Pick("c", "u", "d", "r", "t");
            if (Chance(40))
            {
                // An unknown code, a number, or c written as an escape (which is still c).
                var odd = Pick("\"x\"", "1", "\"\\u0063\"");
                if (odd[0] != '"' || odd[1] == 'x')
                {
                    Fault();
                }

                parts.Add(() => Property("op", () => _text.Append(odd)));
            }
            else if (!Chance(60))
            {
                parts.Add(() => Property("op", () => _text.Append('"').Append(op).Append('"')));
            }

            AddImage(parts, "before", op is "u" or "d");
            AddImage(parts, "after", op is "c" or "u" or "r");
            if (!Chance(20))
            {
                parts.Add(() => Property("source", Chance(15) ? () => _text.Append("null") : Source));
            }

            if (!Chance(10))
            {
                parts.Add(() => Property("ts_ms", () => _text.Append(Chance(10) ? "null" : random.NextInt64(0, long.MaxValue).ToString(CultureInfo.InvariantCulture))));
            }

            parts.Add(() => Property("transaction", () => Value(2)));
            if (Chance(50))
            {
                // A duplicate top-level property.
                var duplicate = parts[random.Next(parts.Count)];
                parts.Add(duplicate);
                Clean = false;
            }

            Shuffle(parts);
            Object(parts);
            Ws();
            return _text.ToString();
        }

        public MessageKey Key()
        {
            if (Chance(8))
            {
                return default;
            }

            var saved = _text.ToString();
            _text.Clear();
            var columns = new List<Action> { () => Property("id", KeyValue) };
            if (Chance(3))
            {
                var name = Pick("region", "tenant", "ü", "schema", "payload", "id");
                if (name is "schema" or "payload" or "id")
                {
                    // A possible schema wrapper, or a duplicate: the document path decides.
                    Fault();
                }

                columns.Add(() => Property(name, () => Value(1)));
            }

            if (Chance(4))
            {
                columns.Add(() => Property("seq", KeyValue));
            }

            if (Chance(30))
            {
                columns.Clear();
            }

            Object(columns);
            if (Chance(40))
            {
                // Bytes after the object: a trailing comma, brace, or a second value.
                Fault();
                _text.Insert(_text.Length - 1, Pick(",", "}", " 1", ",\"x\":"));
            }

            var key = _text.ToString();
            _text.Clear().Append(saved);
            return Chance(2) ? Base64Key(key) : PlainKey(key);
        }

        /// <summary>A key column's value: mostly integers and plain strings, as Debezium writes keys,
        /// with the edges of their forms (18 and 19 digits, leading zeros, fractions, escapes).</summary>
        private void KeyValue()
        {
            if (Chance(2))
            {
                _text.Append(random.Next(-5, 100_000));
                return;
            }

            _text.Append(Pick(
                "0", "-0", "-7", "999999999999999999", "-999999999999999999", "1000000000000000000", "9223372036854775807",
                "1.0", "1e2", "2E-1", "12.50", "\"abc\"", "\"\"", "\"ünï 日本\"", "\"a\\\"b\"", "\"\\u0041\"", "\"x\\ny\"",
                "null", "true", "[1]", "{\"a\":1}", "-", "01", "-01", "1-"));
        }

        private void AddImage(List<Action> parts, string name, bool expected)
        {
            if (expected ? Chance(30) : Chance(2))
            {
                return;
            }

            parts.Add(() => Property(name, () =>
            {
                if (expected ? Chance(30) : Chance(2))
                {
                    _text.Append("null");
                }
                else if (Chance(80))
                {
                    Fault();
                    _text.Append(Chance(2) ? "[]" : "\"row\"");
                }
                else
                {
                    Row();
                }
            }));
        }

        private void Row()
        {
            var names = Columns.OrderBy(_ => random.Next()).Take(random.Next(0, 8)).ToList();
            if (!names.Contains("id") && !Chance(10))
            {
                names.Insert(random.Next(names.Count + 1), "id");
            }

            if (names.Count > 0 && Chance(60))
            {
                names.Add(names[random.Next(names.Count)]);
                Clean = false;
            }

            Object(names.Select(n => (Action)(() => Property(n, () => Value(2)))).ToList());
        }

        private void Source()
        {
            var parts = new List<Action>
            {
                () => Property("version", () => _text.Append("\"2.7.3.Final\"")),
                () => Property("connector", () => Text(Pick("postgresql", "mysql", "\\u0070g"))),
                () => Property("name", () => Text(Pick("db1", "db2"))),
                () => Property("ts_ms", () => Scalar("1700000000000", wrongKind: "\"soon\"")),
                () => Property("snapshot", () => _text.Append(Pick("\"false\"", "\"last\"", "true", "false", "null", "\"incremental\"", "1"))),
                () => Property("db", () => Text(Pick("crm", "shop", "ünï"))),
                () => Property("sequence", () => _text.Append("\"[null,\\\"24023128\\\"]\"")),
                () => Property("schema", () => Text(Pick("public", "sales"))),
                () => Property("table", () => Text(Pick("customers", "orders", "日本"))),
                () => Property("txId", () => _text.Append(Pick("748", "\"748:1\"", "null", "true", "12345678901234567890", "1.5"))),
                () => Property("lsn", () => _text.Append(Pick("24023128", "null", "\"0/16B3748\"", "9223372036854775808", "-5", "{\"a\":1}", "[1,2]", "2.5"))),
                () => Property("xmin", () => _text.Append("null")),
            };
            if (Chance(30))
            {
                // Other connectors' coordinates (SourceOrder), right and wrong.
                parts.Add(() => Property("file", () => _text.Append(Pick("\"mysql-bin.000003\"", "\"binlog\"", "null", "7"))));
                parts.Add(() => Property("pos", () => _text.Append(Pick("154", "\"154\"", "null", "4294967296", "-1"))));
                parts.Add(() => Property("row", () => _text.Append(Pick("0", "1", "8192", "null", "\"2\""))));
                parts.Add(() => Property(Pick("commit_lsn", "change_lsn"), () => _text.Append(Pick("\"00000027:00000758:0005\"", "null", "\"zz\"", "12"))));
                parts.Add(() => Property(Pick("scn", "commit_scn"), () => _text.Append(Pick("\"1513734\"", "1513754", "null", "\"-1\""))));
            }

            parts.RemoveAll(_ => Chance(8));
            if (Chance(10))
            {
                parts.Add(() => Property("extra", () => Value(3)));
            }

            if (Chance(60))
            {
                parts.Add(parts[random.Next(parts.Count)]);
                Clean = false;
            }

            Shuffle(parts);
            Object(parts);
        }

        private void Text(string text)
        {
            if (Chance(20))
            {
                _text.Append("null");
            }
            else if (Chance(60))
            {
                Fault();
                _text.Append(Pick("5", "true", "{}", "[\"a\"]"));
            }
            else
            {
                _text.Append('"').Append(text).Append('"');
            }
        }

        private void Scalar(string value, string wrongKind)
        {
            if (Chance(60))
            {
                Fault();
                _text.Append(Pick(wrongKind, "1.5", "99999999999999999999"));
            }
            else
            {
                _text.Append(Chance(15) ? "null" : value);
            }
        }

        private void Value(int depth)
        {
            switch (random.Next(depth > 0 ? 9 : 7))
            {
                case 0: _text.Append("null"); break;
                case 1: _text.Append("true"); break;
                case 2: _text.Append("false"); break;
                case 3:
                case 4:
                    _text.Append(Numbers[random.Next(Numbers.Length)]);
                    if (Chance(300))
                    {
                        Fault();
                        _text.Append("e20000"); // too large to keep exactly
                    }

                    break;
                case 5:
                case 6:
                    _text.Append('"');
                    for (var i = random.Next(0, 4); i > 0; i--)
                    {
                        _text.Append(Texts[random.Next(Texts.Length)]);
                    }

                    if (Chance(200))
                    {
                        Fault();
                        _text.Append("\\ud800"); // an unpaired surrogate
                    }

                    _text.Append('"');
                    break;
                case 7:
                    {
                        var names = new[] { "k", "v", "ü", "n" }.OrderBy(_ => random.Next()).Take(random.Next(0, 4)).ToList();
                        if (names.Count > 0 && Chance(40))
                        {
                            names.Add(names[0]);
                            Clean = false;
                        }

                        Object(names.Select(n => (Action)(() => Property(n, () => Value(depth - 1)))).ToList());
                        break;
                    }

                default:
                    {
                        Ws();
                        _text.Append('[');
                        var count = random.Next(0, 4);
                        for (var i = 0; i < count; i++)
                        {
                            if (i > 0)
                            {
                                Ws();
                                _text.Append(',');
                            }

                            Ws();
                            Value(depth - 1);
                        }

                        Ws();
                        _text.Append(']');
                        break;
                    }
            }
        }

        private void Object(List<Action> properties)
        {
            Ws();
            _text.Append('{');
            for (var i = 0; i < properties.Count; i++)
            {
                if (i > 0)
                {
                    Ws();
                    _text.Append(',');
                }

                properties[i]();
            }

            Ws();
            _text.Append('}');
        }

        private void Property(string name, Action value)
        {
            Ws();
            if (Chance(150) && name.Length > 0)
            {
                // The same name with its first letter escaped: equal once unescaped.
                _text.Append("\"\\u").Append(((int)name[0]).ToString("x4", CultureInfo.InvariantCulture)).Append(name[1..]).Append('"');
                Clean = false;
            }
            else
            {
                _text.Append('"').Append(name).Append('"');
            }

            Ws();
            _text.Append(':');
            Ws();
            value();
        }

        private void Ws()
        {
            if (Chance(6))
            {
                _text.Append(Pick(" ", "\n", "\t", "  \r\n  "));
            }
        }

        private bool Fault()
        {
            Clean = false;
            return true;
        }

        private bool Chance(int oneIn) => random.Next(oneIn) == 0;

        private string Pick(params string[] choices) => choices[random.Next(choices.Length)];

        private void Shuffle(List<Action> items)
        {
            for (var i = items.Count - 1; i > 0; i--)
            {
                var j = random.Next(i + 1);
                (items[i], items[j]) = (items[j], items[i]);
            }
        }
    }
}
