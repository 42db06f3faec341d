using System.Net;

namespace Sync.Testing.Pulsar;

// Admin REST faults: what a real web service answers when the caller may not do something (403,
// "Don't have admin permission" in PersistentTopics' @ApiResponses), when topic-level policies are
// disabled on the broker (405, topicLevelPoliciesEnabled=false), or when the metadata store fails
// (500). The body is the service's {"reason": "..."}.
public sealed partial class FakeBrokerFaults
{
    private readonly List<AdminFault> _adminFaults = [];

    /// <summary>The next <paramref name="count"/> admin requests with <paramref name="method"/> whose
    /// path ends with <paramref name="pathSuffix"/> (e.g. <c>/retention</c>) are answered with
    /// <paramref name="status"/> and <c>{"reason": reason}</c> instead of being served.</summary>
    public void FailNextAdminRequests(int count, string method, string pathSuffix, HttpStatusCode status, string reason)
    {
        lock (_adminFaults)
        {
            _adminFaults.Add(new AdminFault(method, pathSuffix, status, reason) { Remaining = count });
        }
    }

    internal bool TakeAdminFailure(string method, string path, out HttpStatusCode status, out string reason)
    {
        lock (_adminFaults)
        {
            foreach (var fault in _adminFaults)
            {
                if (fault.Remaining > 0 && fault.Method == method && path.EndsWith(fault.PathSuffix, StringComparison.Ordinal))
                {
                    fault.Remaining--;
                    Fire(nameof(FailNextAdminRequests));
                    (status, reason) = (fault.Status, fault.Reason);
                    return true;
                }
            }
        }

        (status, reason) = (HttpStatusCode.OK, string.Empty);
        return false;
    }

    private sealed record AdminFault(string Method, string PathSuffix, HttpStatusCode Status, string Reason)
    {
        public int Remaining { get; set; }
    }
}
