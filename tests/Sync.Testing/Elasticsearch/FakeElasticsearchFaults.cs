using System.Collections.Concurrent;

namespace Sync.Testing.Elasticsearch;

/// <summary>
/// Faults to inject, in the manner of franz-go's kfake: arm a fault, run the scenario, then check
/// <see cref="Fired"/> to prove it happened. The errors are those a loaded cluster really returns:
/// 429 <c>es_rejected_execution_exception</c> when a node's write thread pool queue is full, and
/// 503 <c>unavailable_shards_exception</c> / <c>cluster_block_exception</c> while a primary is not
/// available (https://www.elastic.co/docs/api/doc/elasticsearch/operation/operation-bulk: each
/// item of a bulk succeeds or fails on its own; a client should retry the items that failed with 429).
/// </summary>
public sealed class FakeElasticsearchFaults
{
    private readonly ConcurrentDictionary<string, int> _fired = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private int _failRequests;
    private int _requestStatus;
    private string? _requestPath;
    private int _failItems;
    private int _itemStatus;
    private int _delays;
    private TimeSpan _delay;
    private (string Path, Func<Task> Action)? _before;
    private (string Path, int Status, string Body)? _answer;

    /// <summary>The next <paramref name="count"/> requests (those whose path contains
    /// <paramref name="pathContains"/>, when given) are answered as a whole with <paramref name="status"/>
    /// (429 or 5xx) and an error body of the server's shape; nothing of them is executed.</summary>
    public void FailNextRequests(int count, int status = 429, string? pathContains = null)
    {
        lock (_gate)
        {
            _failRequests = count;
            _requestStatus = status;
            _requestPath = pathContains;
        }
    }

    /// <summary>The next <paramref name="count"/> bulk items (over however many <c>_bulk</c> requests)
    /// fail on their own with <paramref name="status"/> (429 or 503) while the rest of their request
    /// is executed; the response has <c>errors: true</c>.</summary>
    public void FailNextBulkItems(int count, int status = 429)
    {
        lock (_gate)
        {
            _failItems = count;
            _itemStatus = status;
        }
    }

    /// <summary>The next <paramref name="count"/> responses are sent after <paramref name="delay"/>.</summary>
    public void DelayNextResponses(TimeSpan delay, int count = 1)
    {
        lock (_gate)
        {
            _delay = delay;
            _delays = count;
        }
    }

    /// <summary>Before the next request whose path contains <paramref name="pathContains"/> is executed,
    /// <paramref name="action"/> runs and is awaited: another client's write that lands between two requests
    /// of the sink (a concurrent writer), without a sleep.</summary>
    public void BeforeNextRequest(string pathContains, Func<Task> action)
    {
        lock (_gate)
        {
            _before = (pathContains, action);
        }
    }

    /// <summary>The next request whose path contains <paramref name="pathContains"/> is not executed and
    /// is answered with <paramref name="status"/> and the JSON <paramref name="body"/>: an answer the
    /// fake's own state never produces (a server version or a race that cannot be staged here).</summary>
    public void AnswerNextRequest(string pathContains, int status, string body)
    {
        lock (_gate)
        {
            _answer = (pathContains, status, body);
        }
    }

    /// <summary>Disarms every fault.</summary>
    public void Clear()
    {
        lock (_gate)
        {
            _before = null;
            _answer = null;
            _failRequests = 0;
            _failItems = 0;
            _delays = 0;
        }
    }

    /// <summary>How often a fault fired: <c>request</c>, <c>answer</c>, <c>bulkItem</c>, <c>delay</c> or <c>before</c>.</summary>
    public int Fired(string fault) => _fired.TryGetValue(fault, out var count) ? count : 0;

    private void Fire(string fault) => _fired.AddOrUpdate(fault, 1, (_, count) => count + 1);

    internal TimeSpan? TakeDelay()
    {
        lock (_gate)
        {
            if (_delays <= 0)
            {
                return null;
            }

            _delays--;
            Fire("delay");
            return _delay;
        }
    }

    internal Func<Task>? TakeBeforeRequest(string path)
    {
        lock (_gate)
        {
            if (_before is not { } before || !path.Contains(before.Path, StringComparison.Ordinal))
            {
                return null;
            }

            _before = null;
            Fire("before");
            return before.Action;
        }
    }

    internal FakeElasticsearch.Reply? TakeRequestFault(string method, string path)
    {
        lock (_gate)
        {
            if (_answer is { } answer && path.Contains(answer.Path, StringComparison.Ordinal))
            {
                _answer = null;
                Fire("answer");
                return new FakeElasticsearch.Reply(answer.Status, System.Text.Json.Nodes.JsonNode.Parse(answer.Body));
            }

            if (_failRequests <= 0 || (_requestPath is not null && !path.Contains(_requestPath, StringComparison.Ordinal)))
            {
                return null;
            }

            _failRequests--;
            Fire("request");
            var (type, reason) = Describe(_requestStatus);
            return FakeElasticsearch.Error(_requestStatus, type, $"{reason} [{method} {path}]");
        }
    }

    /// <summary>The status and error of the next bulk item, when an item fault is armed.</summary>
    internal (int Status, string Type, string Reason)? TakeItemFault()
    {
        lock (_gate)
        {
            if (_failItems <= 0)
            {
                return null;
            }

            _failItems--;
            Fire("bulkItem");
            var (type, reason) = Describe(_itemStatus);
            return (_itemStatus, type, reason);
        }
    }

    private static (string Type, string Reason) Describe(int status) => status switch
    {
        429 => ("es_rejected_execution_exception", "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=0, max_coordinating_and_primary_bytes=0]"),
        503 => ("unavailable_shards_exception", "[0] primary shard is not active Timeout: [1m]"),
        502 or 504 => ("gateway_exception", "the node behind the proxy did not answer"),
        _ => ("exception", "injected failure"),
    };
}
