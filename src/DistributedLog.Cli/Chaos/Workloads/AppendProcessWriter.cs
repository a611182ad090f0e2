using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DistributedLog.Cli.Chaos.Cluster;
using DistributedLog.Protocol.Records;

namespace DistributedLog.Cli.Chaos.Workloads;

/// <summary>
/// A fat-client writer: a <c>dlog append --takeover --clock-txids --json</c> process (the core library's writer, no
/// proxy) fed one payload per stdin line, whose in-order acknowledgements on stdout are matched to the lines. Each
/// incarnation of the process is its own client (<c>&lt;name&gt;.&lt;k&gt;</c>) and payloads are
/// <c>&lt;name&gt;.&lt;k&gt;-&lt;n&gt;</c>. Faults SIGKILL it (a new incarnation starts when the fault ends) or start a
/// second incarnation that takes the log over while the first still writes (the first is fenced). Lines not acknowledged
/// when an incarnation exits have an unknown outcome.
/// </summary>
internal sealed class AppendProcessWriter(WorkloadContext context, string name, string log, double recordsPerSecond) : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly List<Incarnation> _all = [];
    private readonly StreamWriter _output = new(new FileStream(Path.Combine(context.WorkDirectory, name + ".log"), FileMode.Append, FileAccess.Write,
        FileShare.ReadWrite)) { AutoFlush = true };
    private Incarnation? _current;
    private bool _down;

    public string Name => name;

    public string Log => log;

    private History History => context.History;

    public async Task RunAsync(CancellationToken stop)
    {
        lock (_gate)
        {
            _current = StartLocked();
        }

        long n = 0;
        var period = TimeSpan.FromSeconds(1 / recordsPerSecond);
        while (!stop.IsCancellationRequested)
        {
            Incarnation? target;
            lock (_gate)
            {
                target = _down ? null : _current;
                if (target is { Exited: true })
                {
                    // It died on its own (fenced, or its writer failed): a new one takes over.
                    Note($"{target.Client} exited by itself; starting a new writer");
                    _current = target = StartLocked();
                }
            }

            if (target is not null)
            {
                await target.SendAsync($"{target.Client}-{n++}");
            }

            try
            {
                await Task.Delay(period, stop);
            }
            catch (OperationCanceledException)
            {
            }
        }

        // Drain: close every incarnation's input, let it acknowledge what it has, then wait for its exit.
        List<Incarnation> all;
        lock (_gate)
        {
            all = [.. _all];
            _current = null;
        }

        foreach (var incarnation in all)
        {
            incarnation.CloseInput();
        }

        foreach (var incarnation in all)
        {
            await incarnation.WaitAsync(TimeSpan.FromSeconds(20));
        }
    }

    /// <summary>SIGKILL the current writer process; none writes until <see cref="Restart"/>.</summary>
    public void Kill()
    {
        Incarnation? victim;
        lock (_gate)
        {
            _down = true;
            victim = _current;
        }

        Note($"SIGKILL {victim?.Client}");
        victim?.Kill();
    }

    /// <summary>Starts a new writer process after <see cref="Kill"/>.</summary>
    public void Restart()
    {
        lock (_gate)
        {
            if (_current is null && _all.Count > 0 && !_down)
            {
                return;
            }

            _down = false;
            _current = StartLocked();
        }
    }

    /// <summary>Starts a new writer process that takes the log over while the current one still writes; the current one's input is closed.</summary>
    public void Takeover()
    {
        Incarnation? old;
        lock (_gate)
        {
            if (_down)
            {
                return;
            }

            old = _current;
            _current = StartLocked();
        }

        Note($"{_current?.Client} takes over from {old?.Client}");
        old?.CloseInput();
    }

    public async ValueTask DisposeAsync()
    {
        List<Incarnation> all;
        lock (_gate)
        {
            all = [.. _all];
        }

        foreach (var incarnation in all)
        {
            incarnation.Kill();
            await incarnation.WaitAsync(TimeSpan.FromSeconds(10));
            incarnation.Dispose();
        }

        await _output.DisposeAsync();
    }

    private Incarnation StartLocked()
    {
        string client = $"{name}.{_all.Count + 1}";
        var info = DlogExecutable.StartInfo(
        [
            "append", log, "--metadata", context.MetadataUri, "--create", "--takeover", "--clock-txids", "--json",
            "--ownership-ttl-seconds", "4", "--ensemble-size", Str(ChaosCluster.EnsembleSize), "--write-quorum", Str(ChaosCluster.WriteQuorum),
            "--ack-quorum", Str(ChaosCluster.AckQuorum), "--max-segment-bytes", Str(ChaosCluster.SegmentBytes),
        ]);
        info.RedirectStandardInput = true;
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        var incarnation = new Incarnation(this, client, Process.Start(info)!);
        _all.Add(incarnation);
        Note($"started {client} (pid {incarnation.Pid})");
        return incarnation;
    }

    private void Note(string text)
    {
        lock (_output)
        {
            try
            {
                _output.WriteLine($"{DateTime.UtcNow.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} !!! {text}");
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    private static string Str(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>One writer process: the lines sent and not yet acknowledged, in order.</summary>
    private sealed class Incarnation
    {
        private readonly AppendProcessWriter _owner;
        private readonly Process _process;
        private readonly Queue<string> _unacknowledged = new();
        private readonly SemaphoreSlim _input = new(1, 1);
        private readonly Task _done;
        private bool _inputClosed;

        public Incarnation(AppendProcessWriter owner, string client, Process process)
        {
            _owner = owner;
            Client = client;
            _process = process;
            Pid = process.Id;
            _done = Task.WhenAll(ReadAcknowledgementsAsync(), ReadErrorsAsync());
        }

        public string Client { get; }

        public int Pid { get; }

        public bool Exited => _done.IsCompleted;

        private History History => _owner.History;

        public async Task SendAsync(string payload)
        {
            await _input.WaitAsync();
            try
            {
                if (_inputClosed || Exited)
                {
                    return;
                }

                lock (_unacknowledged)
                {
                    History.Invoke(Client, _owner.Log, payload);
                    _unacknowledged.Enqueue(payload);
                }

                try
                {
                    await _process.StandardInput.WriteLineAsync(payload);
                    await _process.StandardInput.FlushAsync();
                }
                catch (IOException)
                {
                    // The process is gone: the line's outcome is settled when its exit is seen.
                }
            }
            finally
            {
                _input.Release();
            }
        }

        public void CloseInput()
        {
            _ = Task.Run(async () =>
            {
                await _input.WaitAsync();
                try
                {
                    _inputClosed = true;
                    _process.StandardInput.Close();
                }
                catch (IOException)
                {
                }
                finally
                {
                    _input.Release();
                }
            });
        }

        public void Dispose()
        {
            _process.Dispose();
            _input.Dispose();
        }

        public void Kill()
        {
            try
            {
                _process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
            }
        }

        public async Task WaitAsync(TimeSpan timeout)
        {
            if (await Task.WhenAny(_done, Task.Delay(timeout)) != _done)
            {
                Kill();
                await _done;
            }
        }

        private async Task ReadAcknowledgementsAsync()
        {
            while (await _process.StandardOutput.ReadLineAsync() is string line)
            {
                string? payload;
                Dlsn dlsn;
                long txId;
                try
                {
                    using var json = JsonDocument.Parse(line);
                    dlsn = Dlsn.Parse(json.RootElement.GetProperty("dlsn").GetString()!, CultureInfo.InvariantCulture);
                    txId = json.RootElement.GetProperty("txid").GetInt64();
                }
                catch (Exception e) when (e is JsonException or FormatException or KeyNotFoundException or InvalidOperationException)
                {
                    _owner.Note($"{Client}: unexpected output: {line}");
                    continue;
                }

                lock (_unacknowledged)
                {
                    _unacknowledged.TryDequeue(out payload);
                }

                if (payload is null)
                {
                    _owner.Note($"{Client}: an acknowledgement for a line never sent: {line}");
                    continue;
                }

                History.Ok(Client, _owner.Log, payload, dlsn, txId);
            }

            await _process.WaitForExitAsync();
            int code = _process.ExitCode;
            _owner.Note($"{Client} exited with code {code}");
            lock (_unacknowledged)
            {
                while (_unacknowledged.TryDequeue(out string? payload))
                {
                    History.Unknown(Client, _owner.Log, payload, $"writer process exited with code {code} before acknowledging it");
                }
            }

        }

        private async Task ReadErrorsAsync()
        {
            while (await _process.StandardError.ReadLineAsync() is string line)
            {
                _owner.Note($"{Client} stderr: {line}");
            }
        }
    }
}
