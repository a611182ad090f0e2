using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;

namespace DistributedLog.Metadata.Internal;

/// <summary>The buffer and enumeration shared by both backends' watches: a bounded channel of events that ends
/// normally on <see cref="Complete"/> and with <see cref="MetadataWatchLostException"/> on <see cref="Lose"/>.</summary>
internal abstract class ChannelWatch : IMetadataWatch
{
    private readonly Channel<WatchEvent> _events;

    protected ChannelWatch(string keyOrPrefix, bool isPrefix, int capacity)
    {
        KeyOrPrefix = keyOrPrefix;
        IsPrefix = isPrefix;
        _events = Channel.CreateBounded<WatchEvent>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
            AllowSynchronousContinuations = false,
        });
    }

    public string KeyOrPrefix { get; }

    public bool IsPrefix { get; }

    public long StartRevision { get; protected set; }

    protected ChannelWriter<WatchEvent> Writer => _events.Writer;

    /// <summary>Whether <paramref name="key"/> is watched.</summary>
    public bool Matches(string key) => MetadataKeys.Matches(key, KeyOrPrefix, IsPrefix);

    /// <summary>Ends the enumeration normally after the buffered events.</summary>
    protected void Complete() => _events.Writer.TryComplete();

    /// <summary>Ends the enumeration with <see cref="MetadataWatchLostException"/> after the buffered events.</summary>
    public void Lose(string reason, Exception? inner = null)
    {
        string what = IsPrefix ? $"prefix '{KeyOrPrefix}'" : $"key '{KeyOrPrefix}'";
        _events.Writer.TryComplete(new MetadataWatchLostException(
            $"The watch on {what} was lost: {reason}. Changes may have been missed: list the keys again and start a new watch.", inner));
    }

    public IAsyncEnumerator<WatchEvent> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        ReadAllAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);

    public abstract ValueTask DisposeAsync();

    private async IAsyncEnumerable<WatchEvent> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ChannelReader<WatchEvent> reader = _events.Reader;
        while (true)
        {
            bool more;
            try
            {
                more = await reader.WaitToReadAsync(cancellationToken);
            }
            catch (ChannelClosedException e) when (e.InnerException is not null)
            {
                ExceptionDispatchInfo.Throw(e.InnerException);
                throw;
            }
            if (!more)
                yield break;
            while (reader.TryRead(out WatchEvent item))
                yield return item;
        }
    }
}
