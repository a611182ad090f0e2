namespace DistributedLog.Cli.Commands;

/// <summary>Turns expected failures into one clear line on stderr and an exit code (never a stack trace for a user error).</summary>
internal static class CliErrors
{
    public static async Task<int> RunAsync(Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (OperationCanceledException)
        {
            return 130;
        }
        catch (Exception e) when (e is Protocol.Errors.DlException or IOException or ArgumentException or InvalidDataException
            or UnauthorizedAccessException or System.Net.Sockets.SocketException)
        {
            await Console.Error.WriteLineAsync($"dlog: {e.Message}");
            return 1;
        }
    }
}
