using System.Collections.Concurrent;
using DistributedLog.Metadata.Internal;

namespace DistributedLog.Metadata.Etcd;

public sealed partial class EtcdMetadataStore
{
    private readonly ConcurrentDictionary<EtcdWatch, byte> _liveWatches = new();

    /// <inheritdoc />
    public async ValueTask<IMetadataWatch> WatchAsync(string keyOrPrefix, bool isPrefix, CancellationToken cancellationToken = default)
    {
        if (isPrefix)
            ArgumentNullException.ThrowIfNull(keyOrPrefix);
        else
            MetadataKeys.ValidateKey(keyOrPrefix);
        ObjectDisposedException.ThrowIf(IsDisposed, this);
        var watch = new EtcdWatch(this, keyOrPrefix, isPrefix);
        _liveWatches.TryAdd(watch, 0);
        try
        {
            await watch.StartAsync(cancellationToken);
        }
        catch
        {
            _liveWatches.TryRemove(watch, out _);
            await watch.DisposeAsync();
            throw;
        }
        return watch;
    }

    internal void Forget(EtcdWatch watch) => _liveWatches.TryRemove(watch, out _);

    private async ValueTask StopWatchesAsync()
    {
        foreach (EtcdWatch watch in _liveWatches.Keys)
            await watch.AbortAsync($"the etcd metadata store {Location} was closed");
        _liveWatches.Clear();
    }
}
