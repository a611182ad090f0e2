using DistributedLog.Protocol.Errors;

namespace DistributedLog.Protocol.Tests;

public class ExceptionTests
{
    [Fact]
    public void Typed_exceptions_carry_their_status_codes()
    {
        Assert.Equal(StatusCode.TransactionOutOfOrder, new TransactionIdOutOfOrderException(5, 7).Code);
        Assert.Equal(StatusCode.EndOfStream, new LogEndOfStreamException("x").Code);
        Assert.Equal(StatusCode.InvalidStreamName, new InvalidStreamNameException("x").Code);
        Assert.Equal(StatusCode.LogNotFound, new LogNotFoundException("x").Code);
        Assert.Equal(StatusCode.LogExists, new LogExistsException("x").Code);
        Assert.Equal(StatusCode.LogEmpty, new LogEmptyException("x").Code);
        Assert.Equal(StatusCode.TruncatedTransaction, new TruncatedPositionException("x").Code);
        Assert.Equal(StatusCode.LogSegmentNotFound, new LogSegmentNotFoundException("x").Code);
        Assert.Equal(StatusCode.WriteCancelledException, new WriteCancelledException("x").Code);
        Assert.Equal(StatusCode.OverCapacity, new OverCapacityException("x").Code);
        Assert.Equal(StatusCode.AlreadyClosed, new AlreadyClosedException("x").Code);
        Assert.Equal(StatusCode.LockingException, new LockingException("x").Code);
    }

    [Fact]
    public void Out_of_order_exception_names_both_txids()
    {
        var ex = new TransactionIdOutOfOrderException(5, 7);
        Assert.Equal(5, ex.TxId);
        Assert.Equal(7, ex.HighestTxId);
        Assert.Contains("5", ex.Message);
        Assert.Contains("7", ex.Message);
        Assert.False(ex.IsRetryable);
    }
}
