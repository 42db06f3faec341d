namespace Sync.Engine.Config;

/// <summary>The options of a source that carries topics: its materializers name them
/// (<c>topics</c>, <c>topicPattern</c>), and their dead letters may go to topics of its own.</summary>
public interface ITopicSourceOptions
{
    /// <summary>What is wrong with a materializer's <c>topics</c> or <c>topicPattern</c> on this source, as messages.</summary>
    /// <param name="path">The materializer's path, e.g. <c>materializers.users</c>.</param>
    IReadOnlyList<string> CheckTopics(string path, IReadOnlyList<string>? topics, string? topicPattern);

    /// <summary>Why this source's subscriptions do not deliver each topic in order to one process (a
    /// shared subscription type), which a consistency group needs; null when they do.</summary>
    string? UnorderedBecause => null;
}
