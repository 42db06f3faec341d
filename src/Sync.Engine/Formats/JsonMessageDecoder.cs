namespace Sync.Engine.Formats;

/// <summary>What the JSON formats share: every failure on bad input surfaces as a <see cref="DecodeException"/>.</summary>
public abstract class JsonMessageDecoder : IMessageDecoder
{
    public ChangeEvent Decode(SourceMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        try
        {
            return DecodeCore(message);
        }
        catch (InvalidOperationException e)
        {
            // System.Text.Json refuses to transcode an escaped unpaired surrogate (\ud800) to a string.
            throw new DecodeException("message: a string is not valid Unicode text", e);
        }
    }

    /// <summary>Decodes a message whose argument is not null.</summary>
    protected abstract ChangeEvent DecodeCore(SourceMessage message);
}
