using System.Buffers;
using System.Buffers.Binary;
using Microsoft.Extensions.Logging;

namespace DistributedLog.Bookie.Journal;

/// <summary>
/// The bookie's write-ahead journal with group commit. Appenders copy records into the batch being filled (no
/// allocation per record) and return at once; one writer thread takes the whole batch, writes it with one system
/// call, makes it durable with one <c>fdatasync</c> and then tells every appender. While a sync runs, the next batch
/// fills: batches grow with load, and an idle journal syncs a lone record immediately (no fixed delay).
/// Once a write or sync fails the journal fails stop: nothing after it is reported durable. The bookie may
/// <see cref="Restart"/> it on a fresh file when the failure was a full disk and space returned.
/// </summary>
public sealed partial class Journal : IDisposable
{
    private readonly JournalOptions _options;
    private readonly ILogger _logger;
    private readonly BookieMetrics? _metrics;
    private readonly object _gate = new();
    private Batch _filling = new();
    private Batch _spare = new();
    private bool _stopping;
    private Exception? _failure;
    private TaskCompletionSource? _space;
    private Thread? _writerThread;

    /// <summary>Creates a journal over <see cref="JournalOptions.Directory"/> (created if missing). Call <see cref="Replay"/> then <see cref="Start"/>.</summary>
    public Journal(JournalOptions options, ILogger<Journal>? logger = null, BookieMetrics? metrics = null)
    {
        if (options.FileSize < JournalFormat.FileHeaderSize + 2L * (PackagedEntryLimit + 64))
        {
            throw new ArgumentException($"Journal file size {options.FileSize} is too small; it must hold at least two maximum-size entries.", nameof(options));
        }

        if (options.MaxBatchBytes < PackagedEntryLimit + 64 || options.MaxBatchBytes > options.FileSize - JournalFormat.FileHeaderSize)
        {
            throw new ArgumentException($"Journal batch limit {options.MaxBatchBytes} must hold one maximum-size entry and fit in a journal file.", nameof(options));
        }

        _options = options;
        _logger = (ILogger?)logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _metrics = metrics;
        Directory.CreateDirectory(options.Directory);
    }

    private const int PackagedEntryLimit = Wire.PackagedEntry.MaxSize + 256;

    private LogMark _lastSynced;

    /// <summary>The position up to which the journal is durable.</summary>
    public LogMark LastSyncedMark
    {
        get
        {
            lock (_gate)
            {
                return _lastSynced;
            }
        }

        private set
        {
            lock (_gate)
            {
                _lastSynced = value;
            }
        }
    }

    /// <summary>The failure that stopped the journal, or null while it works.</summary>
    public Exception? Failure => Volatile.Read(ref _failure);

    /// <summary>Raised once, on the journal thread, when the journal fails.</summary>
    public event Action<Exception>? Failed;

    /// <summary>Appends an add-entry record holding <paramref name="packagedEntry"/>.</summary>
    public JournalAppendResult TryAppendAddEntry(ReadOnlySpan<byte> packagedEntry, in JournalCompletion completion) =>
        Append(JournalRecordType.AddEntry, 0, packagedEntry, completion, hasCompletion: true);

    /// <summary>Appends a master-key record (made durable with the next batch; nobody is told).</summary>
    public JournalAppendResult TryAppendMasterKey(long ledgerId, ReadOnlySpan<byte> masterKey)
    {
        if (masterKey.Length > byte.MaxValue)
        {
            throw new ArgumentException("Master keys are at most 255 bytes.", nameof(masterKey));
        }

        return Append(JournalRecordType.MasterKey, ledgerId, masterKey, default, hasCompletion: false);
    }

    /// <summary>Appends a fence record for <paramref name="ledgerId"/>.</summary>
    public JournalAppendResult TryAppendFence(long ledgerId, in JournalCompletion completion) =>
        Append(JournalRecordType.Fence, ledgerId, default, completion, hasCompletion: true);

    /// <summary>Completes when the batch being filled has room again (or the journal failed).</summary>
    public Task WaitForSpaceAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            // Room for any record already (the batch was swapped since the append saw it full): try again at once.
            if (_failure is not null || _stopping || _filling.Length + PackagedEntryLimit + JournalFormat.RecordHeaderSize + 16 <= _options.MaxBatchBytes)
            {
                return Task.CompletedTask;
            }

            _space ??= NewSpaceSignal();
            return _space.Task.WaitAsync(cancellationToken);
        }
    }

    private JournalAppendResult Append(JournalRecordType type, long ledgerId, ReadOnlySpan<byte> data, in JournalCompletion completion, bool hasCompletion)
    {
        int bodyLength = type switch
        {
            JournalRecordType.AddEntry => 1 + data.Length,
            JournalRecordType.MasterKey => 1 + 8 + 1 + data.Length,
            _ => 1 + 8,
        };
        int recordLength = JournalFormat.RecordHeaderSize + bodyLength;

        lock (_gate)
        {
            if (_failure is not null || _stopping)
            {
                return JournalAppendResult.Failed;
            }

            var batch = _filling;
            if (batch.Length + recordLength > _options.MaxBatchBytes && batch.Length > 0)
            {
                return JournalAppendResult.Full;
            }

            Span<byte> record = batch.Reserve(recordLength);
            BinaryPrimitives.WriteInt32LittleEndian(record, bodyLength);
            record[JournalFormat.RecordHeaderSize] = (byte)type;
            Span<byte> body = record[(JournalFormat.RecordHeaderSize + 1)..];
            switch (type)
            {
                case JournalRecordType.AddEntry:
                    data.CopyTo(body);
                    break;
                case JournalRecordType.MasterKey:
                    BinaryPrimitives.WriteInt64LittleEndian(body, ledgerId);
                    body[8] = (byte)data.Length;
                    data.CopyTo(body[9..]);
                    break;
                default:
                    BinaryPrimitives.WriteInt64LittleEndian(body, ledgerId);
                    break;
            }

            batch.RecordCount++;
            if (hasCompletion)
            {
                batch.Completions.Add(completion);
            }

            if (batch.Length == recordLength)
            {
                Monitor.Pulse(_gate);
            }
        }

        return JournalAppendResult.Queued;
    }

    /// <summary>Stops the writer thread after the current batch and fails anything still queued.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.PulseAll(_gate);
        }

        _writerThread?.Join();
        try
        {
            _preparing?.Wait();
        }
        catch (AggregateException)
        {
        }

        Batch leftover;
        lock (_gate)
        {
            leftover = _filling;
            _filling = new Batch();
        }

        var error = new ObjectDisposedException(nameof(Journal), "The journal was closed before the record was made durable.");
        foreach (var completion in leftover.Completions)
        {
            completion.Target.OnJournalComplete(completion, error);
        }

        leftover.Release();
        _spare.Release();
        _current?.Dispose();
        _nextFile?.Dispose();
        _space?.TrySetResult();
    }

    private static TaskCompletionSource NewSpaceSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A group-commit batch: the record bytes and who to tell.</summary>
    private sealed class Batch
    {
        private byte[] _buffer = ArrayPool<byte>.Shared.Rent(1 << 20);

        public int Length { get; private set; }

        public int RecordCount { get; set; }

        public List<JournalCompletion> Completions { get; } = new(1024);

        public Span<byte> Written => _buffer.AsSpan(0, Length);

        public Span<byte> Reserve(int length)
        {
            if (Length + length > _buffer.Length)
            {
                byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, Length + length));
                _buffer.AsSpan(0, Length).CopyTo(bigger);
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = bigger;
            }

            var span = _buffer.AsSpan(Length, length);
            Length += length;
            return span;
        }

        public void Clear()
        {
            Length = 0;
            RecordCount = 0;
            Completions.Clear();
        }

        public void Release()
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = [];
            Clear();
        }
    }
}
