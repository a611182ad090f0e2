using DistributedLog.Protocol.Errors;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Protocol.Tests;

public class LogRecordTests
{
    [Fact]
    public void Limits_are_DistributedLogs()
    {
        Assert.Equal((1024 * 1024) - (8 * 1024), LogRecord.MaxRecordSize);
        Assert.Equal((1024 * 1024) - (4 * 1024), LogRecord.MaxEntrySize);
        Assert.Equal(20, LogRecord.HeaderSize);
        Assert.Equal(LogRecord.MaxRecordSize - 20, LogRecord.MaxPayloadSize);
    }

    [Fact]
    public void User_record_properties()
    {
        var r = new LogRecord(12, new byte[] { 1, 2, 3 });
        Assert.Equal(12, r.TxId);
        Assert.Equal(LogRecordFlags.None, r.Flags);
        Assert.False(r.IsControl || r.IsEndOfStream || r.IsRecordSet);
        Assert.Equal(23, r.PersistedSize);
    }

    [Fact]
    public void Control_and_end_of_stream_factories()
    {
        LogRecord control = LogRecord.CreateControl(99);
        Assert.Equal(LogRecordFlags.Control, control.Flags);
        Assert.Equal(99, control.TxId);
        Assert.Equal("control"u8.ToArray(), control.Payload.ToArray());

        LogRecord keepAlive = LogRecord.CreateKeepAlive(99);
        Assert.True(keepAlive.IsControl);
        Assert.Equal("keepalive"u8.ToArray(), keepAlive.Payload.ToArray());

        LogRecord eos = LogRecord.CreateEndOfStream();
        Assert.Equal(LogRecordFlags.Control | LogRecordFlags.EndOfStream, eos.Flags);
        Assert.True(eos.IsControl && eos.IsEndOfStream);
        Assert.Equal(long.MaxValue, eos.TxId);
        Assert.Equal("endOfStream"u8.ToArray(), eos.Payload.ToArray());
    }

    [Theory]
    [InlineData(-1L)]
    [InlineData(long.MinValue)]
    [InlineData(long.MaxValue)]
    public void User_txid_must_be_non_negative_and_not_reserved(long txId)
    {
        var ex = Assert.Throws<TransactionIdOutOfOrderException>(() => new LogRecord(txId, new byte[1]));
        Assert.Equal(StatusCode.TransactionOutOfOrder, ex.Code);
    }

    [Fact]
    public void Txid_zero_and_max_minus_one_are_fine()
    {
        Assert.Equal(0, new LogRecord(0, ReadOnlyMemory<byte>.Empty).TxId);
        Assert.Equal(long.MaxValue - 1, new LogRecord(long.MaxValue - 1, ReadOnlyMemory<byte>.Empty).TxId);
    }

    [Fact]
    public void Inconsistent_flags_are_refused()
    {
        Assert.Throws<ArgumentException>(() => new LogRecord(long.MaxValue, default, LogRecordFlags.EndOfStream));
        Assert.Throws<ArgumentException>(() => new LogRecord(1, default, LogRecordFlags.Control | LogRecordFlags.RecordSet));
        Assert.Throws<ArgumentException>(() => new LogRecord(1, default, (LogRecordFlags)0x8));
        Assert.Throws<TransactionIdOutOfOrderException>(() => new LogRecord(5, default, LogRecordFlags.Control | LogRecordFlags.EndOfStream));
        Assert.Throws<TransactionIdOutOfOrderException>(() => LogRecord.CreateControl(-1));
    }

    [Fact]
    public void Max_record_size_is_on_the_persisted_size()
    {
        var max = new LogRecord(1, new byte[LogRecord.MaxPayloadSize]);
        Assert.Equal(LogRecord.MaxRecordSize, max.PersistedSize);
        var ex = Assert.Throws<LogRecordTooLongException>(() => new LogRecord(1, new byte[LogRecord.MaxPayloadSize + 1]));
        Assert.Equal(StatusCode.TooLargeRecord, ex.Code);
        Assert.Contains(LogRecord.MaxRecordSize.ToString(System.Globalization.CultureInfo.InvariantCulture), ex.Message);
    }

    [Fact]
    public void Sequence_id_is_segment_start_plus_position_minus_one()
    {
        Assert.Equal(0, LogRecordWithDlsn.ComputeSequenceId(0, 1));
        Assert.Equal(109, LogRecordWithDlsn.ComputeSequenceId(100, 10));
    }
}
