# Measures a real bookie process's RSS while N clients hold half-sent maximum-size frames (docs/reliability.md, "Bad input").
# usage: python3 scripts/half-sent-frames-rss.py src/DistributedLog.Cli/bin/Release/net10.0/dlog.dll DATA_DIR PORT CONNECTIONS HOLD_SECONDS
import socket, struct, subprocess, sys, time

dll, data, port, conns, hold = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
proc = subprocess.Popen(["dotnet", dll, "bookie", "--data", data, "--port", str(port), "--min-free-mb", "0"],
                        stdout=open(data + ".log", "w"), stderr=subprocess.STDOUT)

def rss():
    with open(f"/proc/{proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
def frame(op, rid, body):
    return struct.pack("<iBBHQ", 12 + len(body), op, 0, 0, rid) + body
def handshake():
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(frame(1, 1, struct.pack("<IHH", 0x4B424C44, 1, 1)))
    s.settimeout(10)
    head = b""
    while len(head) < 44:
        head += s.recv(44 - len(head))
    n = struct.unpack("<i", head[:4])[0]
    rest = n + 4 - 44
    while rest > 0:
        rest -= len(s.recv(rest))
    return s

for _ in range(100):
    try:
        handshake().close(); break
    except OSError:
        time.sleep(0.2)
time.sleep(2)
# Warm up: a few healthy connections and pings.
for _ in range(20):
    s = handshake(); s.sendall(frame(8, 2, b"")); s.recv(100); s.close()
time.sleep(2)
base = rss()
MAX_PAYLOAD = (1 << 20) - (4 << 10)
full = frame(2, 99, bytes([3, 1, 2, 3]) + b"\0" * (40 + MAX_PAYLOAD))
part = full[: len(full) - 100]
socks = []
for i in range(conns):
    s = handshake()
    s.setblocking(False)
    sent = 0
    try:
        sent = s.send(part)
    except BlockingIOError:
        pass
    socks.append((s, part[sent:]))
peak = rss()
t0 = time.time()
samples = []
while time.time() - t0 < hold:
    # Keep pushing whatever the kernel accepts.
    for j, (s, rest) in enumerate(socks):
        if rest:
            try:
                n = s.send(rest)
                socks[j] = (s, rest[n:])
            except (BlockingIOError, OSError):
                pass
    r = rss(); peak = max(peak, r)
    samples.append((round(time.time() - t0), r))
    time.sleep(1)
open_count = 0
for s, _ in socks:
    try:
        s.setblocking(True); s.settimeout(0.2)
        d = s.recv(10)
        if d: open_count += 1
    except socket.timeout:
        open_count += 1
    except OSError:
        pass
after_hold = rss()
for s, _ in socks:
    s.close()
time.sleep(10)
after = rss()
print(f"baseline {base} MB, peak {peak} MB during {conns} half-sent frames, {after_hold} MB after {hold:.0f} s "
      f"({open_count} of {conns} connections still open), {after} MB 10 s after the clients closed")
print("samples (s, MB):", samples[::5])
proc.terminate(); proc.wait(20)
