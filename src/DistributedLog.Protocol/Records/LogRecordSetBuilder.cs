using System.Buffers;
using DistributedLog.Protocol.Entries;
using DistributedLog.Protocol.Errors;

namespace DistributedLog.Protocol.Records;

/// <summary>
/// Builds a record set (DistributedLog's <c>LogRecordSet</c>, the payload format in <see cref="RecordSetFormat"/>): records
/// added one by one, optionally LZ4-compressed, written to a log as one record with the <see cref="LogRecordFlags.RecordSet"/>
/// flag. The log stores the set in one entry; readers unpack it, and inner record <c>i</c> gets the DLSN of the set's
/// first slot with <c>i</c> added to the slot id (see <see cref="RecordSetDlsns"/>).
/// </summary>
/// <remarks>
/// Adding copies the payload into a pooled buffer (no allocation per record once the buffer has grown). The sealed set,
/// with the 20-byte record header around it, may not exceed <see cref="MaxRecordSize"/> (at most
/// <see cref="LogRecord.MaxRecordSize"/>, DistributedLog's limit for a record set too), counted before compression.
/// Reusable: <see cref="Build"/> and <see cref="Seal"/> leave the records in place; call <see cref="Reset"/> for the
/// next set. Not thread-safe. Dispose to return the buffer to the pool.
/// </remarks>
public sealed class LogRecordSetBuilder : IDisposable
{
    private readonly RecordSetWriter _writer;

    /// <summary>Creates a builder.</summary>
    /// <param name="codec">Compression of the set's data (LZ4 is used only when it makes the set smaller).</param>
    /// <param name="maxRecordSize">Largest persisted size of the record carrying the set, before compression (default and upper bound <see cref="LogRecord.MaxRecordSize"/>).</param>
    /// <param name="initialCapacity">Initial size of the pooled buffer.</param>
    /// <exception cref="ArgumentOutOfRangeException">An unknown codec, or a size limit too small for one empty record or above <see cref="LogRecord.MaxRecordSize"/>.</exception>
    public LogRecordSetBuilder(CompressionCodec codec = CompressionCodec.None, int maxRecordSize = LogRecord.MaxRecordSize, int initialCapacity = 4096)
    {
        if (codec is not (CompressionCodec.None or CompressionCodec.Lz4))
        {
            throw new ArgumentOutOfRangeException(nameof(codec), codec, "Unknown compression codec: use None or Lz4.");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(maxRecordSize, LogRecord.HeaderSize + RecordSetFormat.HeaderSize + RecordSetFormat.RecordOverhead);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxRecordSize, LogRecord.MaxRecordSize);
        Codec = codec;
        MaxRecordSize = maxRecordSize;
        _writer = new RecordSetWriter(initialCapacity);
    }

    /// <summary>The compression asked for.</summary>
    public CompressionCodec Codec { get; }

    /// <summary>The size limit of the record carrying the set (persisted size before compression).</summary>
    public int MaxRecordSize { get; }

    /// <summary>Number of records added.</summary>
    public int Count => _writer.Count;

    /// <summary>Persisted size of the record that will carry the set, before compression (an upper bound of the real size).</summary>
    public int EstimatedRecordSize => _writer.EstimatedRecordSize;

    /// <summary>Bytes <see cref="Seal"/> needs at most: the set's payload before compression.</summary>
    public int EstimatedPayloadSize => _writer.EstimatedSize;

    /// <summary>
    /// Adds a record (its payload is copied). Returns false, adding nothing, when the set would grow beyond
    /// <see cref="MaxRecordSize"/>: build this set and start the next one with the record.
    /// </summary>
    /// <exception cref="LogRecordTooLongException">The payload alone is too large for a set of <see cref="MaxRecordSize"/> bytes.</exception>
    public bool TryAdd(ReadOnlySpan<byte> payload)
    {
        long alone = (long)LogRecord.HeaderSize + RecordSetFormat.HeaderSize + RecordSetFormat.RecordOverhead + payload.Length;
        if (alone > MaxRecordSize)
        {
            throw new LogRecordTooLongException(
                $"A record of {payload.Length} payload bytes does not fit in a record set of at most {MaxRecordSize} bytes " +
                $"({alone} needed); write it as a plain record.");
        }

        if (EstimatedRecordSize + RecordSetFormat.RecordOverhead + payload.Length > MaxRecordSize)
        {
            return false;
        }

        return _writer.TryAdd(payload);
    }

    /// <summary>Adds a record; see <see cref="TryAdd"/>.</summary>
    /// <exception cref="LogRecordTooLongException">The set is full or the payload is too large; build the set first.</exception>
    public void Add(ReadOnlySpan<byte> payload)
    {
        if (!TryAdd(payload))
        {
            throw new LogRecordTooLongException(
                $"The record set is full: {Count} records, {EstimatedRecordSize} of {MaxRecordSize} bytes; a record of {payload.Length} bytes does not fit.");
        }
    }

    /// <summary>
    /// Writes the sealed payload of the set (header and records, compressed when asked and when that shrinks it) to
    /// <paramref name="destination"/>, which needs <see cref="EstimatedPayloadSize"/> bytes; returns the bytes written.
    /// Allocates nothing: the way to send sets from a reused buffer.
    /// </summary>
    /// <exception cref="InvalidOperationException">The set is empty.</exception>
    public int Seal(Span<byte> destination)
    {
        ThrowIfEmpty();
        return _writer.Seal(Codec, destination);
    }

    /// <summary>The sealed payload of the set in a new array (what a proxy client sends as a record-set record).</summary>
    /// <exception cref="InvalidOperationException">The set is empty.</exception>
    public byte[] ToPayload()
    {
        ThrowIfEmpty();
        byte[] scratch = ArrayPool<byte>.Shared.Rent(EstimatedPayloadSize);
        try
        {
            int length = _writer.Seal(Codec, scratch.AsSpan());
            return scratch.AsSpan(0, length).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    /// <summary>The set as one record with the <see cref="LogRecordFlags.RecordSet"/> flag and transaction id <paramref name="txId"/> (its payload is a new array).</summary>
    /// <exception cref="InvalidOperationException">The set is empty.</exception>
    /// <exception cref="TransactionIdOutOfOrderException"><paramref name="txId"/> is negative or reserved.</exception>
    public LogRecord Build(long txId) => new(txId, ToPayload(), LogRecordFlags.RecordSet);

    /// <summary>Empties the set, keeping its buffer.</summary>
    public void Reset() => _writer.Reset();

    /// <summary>Returns the buffer to the pool.</summary>
    public void Dispose() => _writer.Dispose();

    private void ThrowIfEmpty()
    {
        if (Count == 0)
        {
            throw new InvalidOperationException("The record set is empty: add records before building it.");
        }
    }
}
