using System.Buffers.Binary;
using RocksDbSharp;

namespace DistributedLog.Bookie.Storage;

/// <summary>
/// The persistent index of a ledger directory, a RocksDB database under <c>&lt;dir&gt;/index</c> with column families:
/// <code>
/// locations  key ledgerId(i64 BE) ‖ entryId(i64 BE)       → logId(i64 LE) ‖ offset(i64 LE) ‖ length(i32 LE)
/// ledgers    key ledgerId(i64 BE)                         → version(u8 = 1) ‖ flags(u8) ‖ keyLength(u16 LE) ‖ master key
///            flags: 1 fenced, 2 deleted (tombstone), 4 index purged, 8 has master key
/// entrylogs  key logId(i64 BE) ‖ ledgerId(i64 BE)         → bytes of that ledger's records in that log (i64 LE)
/// default    key "lastEntryLogId"                         → highest entry log id created (i64 LE)
/// </code>
/// RocksDB errors surface as <see cref="IOException"/>. Thread-safe.
/// </summary>
internal sealed class LedgerIndex : IDisposable
{
    private static readonly byte[] LastEntryLogIdKey = "lastEntryLogId"u8.ToArray();

    private readonly RocksDb _db;
    private readonly ColumnFamilyHandle _locations;
    private readonly ColumnFamilyHandle _ledgers;
    private readonly ColumnFamilyHandle _entryLogs;
    private readonly WriteOptions _syncWrite = new WriteOptions().SetSync(true);
    private readonly WriteOptions _plainWrite = new WriteOptions().SetSync(false);

    private LedgerIndex(RocksDb db)
    {
        _db = db;
        _locations = db.GetColumnFamily("locations");
        _ledgers = db.GetColumnFamily("ledgers");
        _entryLogs = db.GetColumnFamily("entrylogs");
    }

    public static LedgerIndex Open(string path)
    {
        DbOptions options = new DbOptions()
            .SetCreateIfMissing(true)
            .SetCreateMissingColumnFamilies(true)
            .SetKeepLogFileNum(2)
            .SetMaxLogFileSize(4 << 20)
            .SetInfoLogLevel(InfoLogLevel.Warn)
            .IncreaseParallelism(2);
        var families = new ColumnFamilies
        {
            { "locations", new ColumnFamilyOptions() },
            { "ledgers", new ColumnFamilyOptions() },
            { "entrylogs", new ColumnFamilyOptions() },
        };
        try
        {
            return new LedgerIndex(RocksDb.Open(options, path, families));
        }
        catch (Exception e) when (e is not IOException)
        {
            throw new IOException($"Opening the ledger index at '{path}' failed: {e.Message}", e);
        }
    }

    public bool TryGetLocation(EntryKey key, out EntryLocation location)
    {
        Span<byte> k = stackalloc byte[EntryKey.EncodedSize];
        Span<byte> v = stackalloc byte[EntryLocation.EncodedSize];
        key.Encode(k);
        bool found;
        try
        {
            found = _db.GetFixedSizeValue(k, v, _locations);
        }
        catch (Exception e) when (e is not IOException)
        {
            throw Wrap(e);
        }

        location = found ? EntryLocation.Decode(v) : default;
        return found;
    }

    /// <summary>The highest entry id indexed for the ledger, or -1.</summary>
    public long GetLastEntryId(long ledgerId)
    {
        Span<byte> k = stackalloc byte[EntryKey.EncodedSize];
        new EntryKey(ledgerId, long.MaxValue).Encode(k);
        try
        {
            using Iterator it = _db.NewIterator(_locations);
            it.SeekForPrev(k);
            if (!it.Valid())
            {
                return -1;
            }

            EntryKey found = EntryKey.Decode(it.GetKeySpan());
            return found.LedgerId == ledgerId ? found.EntryId : -1;
        }
        catch (Exception e) when (e is not IOException)
        {
            throw Wrap(e);
        }
    }

    /// <summary>Adds to <paramref name="result"/> every (key, location) of the ledger whose location is in log <paramref name="logId"/>.</summary>
    public void CollectLocationsInLog(long ledgerId, long logId, List<(EntryKey Key, EntryLocation Location)> result)
    {
        Span<byte> k = stackalloc byte[EntryKey.EncodedSize];
        new EntryKey(ledgerId, 0).Encode(k);
        try
        {
            using Iterator it = _db.NewIterator(_locations);
            for (it.Seek(k); it.Valid(); it.Next())
            {
                EntryKey key = EntryKey.Decode(it.GetKeySpan());
                if (key.LedgerId != ledgerId)
                {
                    break;
                }

                EntryLocation location = EntryLocation.Decode(it.GetValueSpan());
                if (location.LogId == logId)
                {
                    result.Add((key, location));
                }
            }
        }
        catch (Exception e) when (e is not IOException)
        {
            throw Wrap(e);
        }
    }

    /// <summary>Writes a ledger's metadata record (sync: durable when this returns; otherwise at the next sync write).</summary>
    public void PutLedger(long ledgerId, LedgerRecord record, bool sync)
    {
        Span<byte> k = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(k, ledgerId);
        byte[] value = record.Encode();
        try
        {
            _db.Put(k, value, _ledgers, sync ? _syncWrite : _plainWrite);
        }
        catch (Exception e) when (e is not IOException)
        {
            throw Wrap(e);
        }
    }

    /// <summary>Every ledger metadata record.</summary>
    public Dictionary<long, LedgerRecord> LoadLedgers()
    {
        var result = new Dictionary<long, LedgerRecord>();
        try
        {
            using Iterator it = _db.NewIterator(_ledgers);
            for (it.SeekToFirst(); it.Valid(); it.Next())
            {
                result[BinaryPrimitives.ReadInt64BigEndian(it.GetKeySpan())] = LedgerRecord.Decode(it.GetValueSpan());
            }
        }
        catch (Exception e) when (e is not IOException)
        {
            throw Wrap(e);
        }

        return result;
    }

    /// <summary>Per entry log, the bytes each ledger holds in it.</summary>
    public Dictionary<long, Dictionary<long, long>> LoadEntryLogMaps()
    {
        var result = new Dictionary<long, Dictionary<long, long>>();
        try
        {
            using Iterator it = _db.NewIterator(_entryLogs);
            for (it.SeekToFirst(); it.Valid(); it.Next())
            {
                ReadOnlySpan<byte> key = it.GetKeySpan();
                long logId = BinaryPrimitives.ReadInt64BigEndian(key);
                long ledgerId = BinaryPrimitives.ReadInt64BigEndian(key[8..]);
                if (!result.TryGetValue(logId, out Dictionary<long, long>? map))
                {
                    result[logId] = map = [];
                }

                map[ledgerId] = BinaryPrimitives.ReadInt64LittleEndian(it.GetValueSpan());
            }
        }
        catch (Exception e) when (e is not IOException)
        {
            throw Wrap(e);
        }

        return result;
    }

    /// <summary>The highest entry log id recorded, or -1.</summary>
    public long LoadLastEntryLogId()
    {
        Span<byte> v = stackalloc byte[8];
        bool found;
        try
        {
            found = _db.GetFixedSizeValue(LastEntryLogIdKey, v, null);
        }
        catch (Exception e) when (e is not IOException)
        {
            throw Wrap(e);
        }

        return found ? BinaryPrimitives.ReadInt64LittleEndian(v) : -1;
    }

    public IndexBatch CreateBatch() => new(this);

    /// <inheritdoc />
    public void Dispose() => _db.Dispose();

    private static IOException Wrap(Exception e) => new($"The ledger index failed: {e.Message}", e);

    /// <summary>An atomic group of index changes.</summary>
    internal sealed class IndexBatch : IDisposable
    {
        private readonly LedgerIndex _index;
        private readonly WriteBatch _batch = new();

        public IndexBatch(LedgerIndex index) => _index = index;

        public int Count => _batch.Count();

        public void PutLocation(EntryKey key, EntryLocation location)
        {
            Span<byte> k = stackalloc byte[EntryKey.EncodedSize];
            Span<byte> v = stackalloc byte[EntryLocation.EncodedSize];
            key.Encode(k);
            location.Encode(v);
            _batch.Put(k, v, _index._locations);
        }

        /// <summary>Deletes every location of the ledger.</summary>
        public void DeleteLedgerLocations(long ledgerId)
        {
            byte[] start = new byte[EntryKey.EncodedSize];
            new EntryKey(ledgerId, 0).Encode(start);
            _batch.DeleteRange(start, (ulong)start.Length, UpperBound(ledgerId), EntryKey.EncodedSize + 1, _index._locations);
        }

        public void PutEntryLogLedgerBytes(long logId, long ledgerId, long bytes)
        {
            Span<byte> k = stackalloc byte[16];
            Span<byte> v = stackalloc byte[8];
            BinaryPrimitives.WriteInt64BigEndian(k, logId);
            BinaryPrimitives.WriteInt64BigEndian(k[8..], ledgerId);
            BinaryPrimitives.WriteInt64LittleEndian(v, bytes);
            _batch.Put(k, v, _index._entryLogs);
        }

        /// <summary>Deletes the ledger→bytes map of a log.</summary>
        public void DeleteEntryLogMap(long logId)
        {
            byte[] start = new byte[16];
            BinaryPrimitives.WriteInt64BigEndian(start, logId);
            _batch.DeleteRange(start, (ulong)start.Length, UpperBound(logId), 17, _index._entryLogs);
        }

        public void PutLastEntryLogId(long logId)
        {
            Span<byte> v = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(v, logId);
            _batch.Put(LastEntryLogIdKey, v, null);
        }

        /// <summary>Applies the batch atomically; with <paramref name="sync"/> the WAL is synced (this and every earlier write durable).</summary>
        public void Commit(bool sync)
        {
            try
            {
                _index._db.Write(_batch, sync ? _index._syncWrite : _index._plainWrite);
            }
            catch (Exception e) when (e is not IOException)
            {
                throw Wrap(e);
            }
        }

        public void Dispose() => _batch.Dispose();

        /// <summary>A 17-byte key after every 16-byte key starting with <paramref name="prefix"/>.</summary>
        private static byte[] UpperBound(long prefix)
        {
            byte[] end = new byte[17];
            BinaryPrimitives.WriteInt64BigEndian(end, prefix);
            end.AsSpan(8, 8).Fill(0xFF);
            return end;
        }
    }
}

/// <summary>A ledger's persisted metadata.</summary>
internal readonly record struct LedgerRecord(byte[]? MasterKey, bool Fenced, bool Deleted, bool Purged)
{
    private const byte FormatVersion = 1;
    private const byte FencedFlag = 1;
    private const byte DeletedFlag = 2;
    private const byte PurgedFlag = 4;
    private const byte MasterKeyFlag = 8;

    public byte[] Encode()
    {
        int keyLength = MasterKey?.Length ?? 0;
        byte[] value = new byte[4 + keyLength];
        value[0] = FormatVersion;
        value[1] = (byte)((Fenced ? FencedFlag : 0) | (Deleted ? DeletedFlag : 0) | (Purged ? PurgedFlag : 0) | (MasterKey is null ? 0 : MasterKeyFlag));
        BinaryPrimitives.WriteUInt16LittleEndian(value.AsSpan(2), (ushort)keyLength);
        MasterKey?.CopyTo(value, 4);
        return value;
    }

    public static LedgerRecord Decode(ReadOnlySpan<byte> value)
    {
        if (value.Length < 4 || value[0] != FormatVersion)
        {
            throw new IOException($"The ledger index holds a ledger record of unknown format (version {(value.Length > 0 ? value[0] : -1)}).");
        }

        byte flags = value[1];
        int keyLength = BinaryPrimitives.ReadUInt16LittleEndian(value[2..]);
        if (value.Length < 4 + keyLength)
        {
            throw new IOException("The ledger index holds a truncated ledger record.");
        }

        byte[]? key = (flags & MasterKeyFlag) != 0 ? value.Slice(4, keyLength).ToArray() : null;
        return new LedgerRecord(key, (flags & FencedFlag) != 0, (flags & DeletedFlag) != 0, (flags & PurgedFlag) != 0);
    }
}
