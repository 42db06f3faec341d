namespace Sync.Pulsar;

internal static class FrameLimits
{
    public static int ForMessageSize(int maxMessageSize) =>
        maxMessageSize > int.MaxValue - FrameFormat.FramePadding ? int.MaxValue : maxMessageSize + FrameFormat.FramePadding;
}
