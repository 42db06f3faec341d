using System.Text.Unicode;

namespace Sync.Engine.DeadLetters;

/// <summary>Appends dead letters to a JSON Lines file. Each line holds when, which materializer,
/// the stage (read, decode, apply), where (topic, position, file:line), the reason, and the message
/// itself in changelog-line form, so that a fixed dead-letter file can be replayed as a changelog
/// (<c>jq -c .message</c>). Lines are flushed to disk before the batch's checkpoint is stored.</summary>
public sealed class DeadLetterWriter : IDeadLetterTarget
{
    private readonly string _path;
    private readonly string _materializer;
    private readonly TimeProvider _time;
    private readonly MemoryStream _pending = new();
    private FileStream? _file;

    public DeadLetterWriter(string path, string materializer, TimeProvider? time = null)
    {
        _path = path;
        _materializer = materializer;
        _time = time ?? TimeProvider.System;
    }

    public string Path => _path;

    public string Description => _path;

    public void Add(string stage, SourceMessage message, string reason)
    {
        using var writer = Start(stage, message.Topic, message.Position.ToString(), reason);
        writer.WritePropertyName("message");
        ChangelogLineWriter.Write(writer, message);
        writer.WriteEndObject();
        End(writer);
    }

    public void Add(SourceError error)
    {
        using var writer = Start("read", error.Topic, error.Position.ToString(), error.Reason);
        writer.WriteString("location", error.Location);
        if (Utf8.IsValid(error.Raw.Span))
        {
            writer.WriteString("raw", Encoding.UTF8.GetString(error.Raw.Span));
        }
        else
        {
            // Bytes that are not text are kept whole, as base64.
            writer.WriteBase64String("rawBase64", error.Raw.Span);
        }

        writer.WriteEndObject();
        End(writer);
    }

    /// <summary>Writes what was added to the file and forces it to disk.</summary>
    public ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Flush();
        return ValueTask.CompletedTask;
    }

    /// <summary>Writes what was added to the file and forces it to disk, on the calling thread.</summary>
    public void Flush()
    {
        if (_pending.Length == 0)
        {
            return;
        }

        if (_file is null)
        {
            var directory = System.IO.Path.GetDirectoryName(_path);
            if (!string.IsNullOrEmpty(directory))
            {
                Directory.CreateDirectory(directory);
            }

            _file = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.Read, 4096);
        }

        _pending.Position = 0;
        _pending.CopyTo(_file);
        _file.Flush(flushToDisk: true);
        _pending.SetLength(0);
    }

    public async ValueTask DisposeAsync()
    {
        await FlushAsync(CancellationToken.None);
        if (_file is not null)
        {
            await _file.DisposeAsync();
        }

        await _pending.DisposeAsync();
    }

    private Utf8JsonWriter Start(string stage, string? topic, string position, string reason)
    {
        var writer = new Utf8JsonWriter(_pending);
        writer.WriteStartObject();
        writer.WriteString("time", _time.GetUtcNow());
        writer.WriteString("materializer", _materializer);
        writer.WriteString("stage", stage);
        if (topic is not null)
        {
            writer.WriteString("topic", topic);
        }

        writer.WriteString("position", position);
        writer.WriteString("reason", reason);
        return writer;
    }

    private void End(Utf8JsonWriter writer)
    {
        writer.Flush();
        _pending.WriteByte((byte)'\n');
    }
}
