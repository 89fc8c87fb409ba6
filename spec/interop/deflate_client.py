"""permessage-deflate against luahub, driven by Python's websockets (an implementation
nobody here wrote). Usage: deflate_client.py ECHO_URL BROADCAST_URL MAX_MESSAGE_SIZE
Prints "RESULT ok N checks" or raises."""
import asyncio
import socket
import struct
import sys
import zlib

import websockets

checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


async def echo(url):
    async with websockets.connect(url, max_size=None, compression="deflate") as ws:
        ext = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        check("permessage-deflate" in ext, "extension not negotiated: %r" % ext)
        check("server_no_context_takeover" in ext, "no server_no_context_takeover: %r" % ext)
        for msg in ["small", "x" * 100, "héllo wörld " * 5000, b"\x00\x01" * 40000, ""]:
            await ws.send(msg)
            check(await ws.recv() == msg, "echo of %d bytes changed" % len(msg))
    async with websockets.connect(url, compression=None) as plain:
        check("Sec-WebSocket-Extensions" not in plain.response_headers, "extension without offer")
        await plain.send("y" * 5000)
        check(await plain.recv() == "y" * 5000, "plain echo")


async def broadcast(url):
    a = await websockets.connect(url, compression="deflate")
    b = await websockets.connect(url, compression="deflate")
    c = await websockets.connect(url, compression=None)
    text = "broadcast to mixed clients " * 200
    await c.send(text)
    for ws in (a, b, c):
        check(await asyncio.wait_for(ws.recv(), 5) == text, "broadcast differs")
    for ws in (a, b, c):
        await ws.close()


def raw_close_code(url, payload, rsv1=True):
    """Sends one masked frame with RSV1 set on a connection that negotiated deflate and
    returns the close code the server answers with."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(("GET /ws HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n" % (host, port)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(4096)
    check(b" 101 " in head.split(b"\r\n")[0], "upgrade refused: %r" % head[:80])
    mask = b"\x01\x02\x03\x04"
    masked = bytes(ch ^ mask[i % 4] for i, ch in enumerate(payload))
    first = 0x80 | (0x40 if rsv1 else 0) | 0x1
    if len(payload) < 126:
        hdr = struct.pack("!BB", first, 0x80 | len(payload))
    elif len(payload) < 65536:
        hdr = struct.pack("!BBH", first, 0x80 | 126, len(payload))
    else:
        hdr = struct.pack("!BBQ", first, 0x80 | 127, len(payload))
    s.sendall(hdr + mask + masked)
    data = head.split(b"\r\n\r\n", 1)[1]
    while len(data) < 4:
        more = s.recv(4096)
        if not more:
            break
        data += more
    s.close()
    check(len(data) >= 4 and data[0] == 0x88, "no close frame: %r" % data[:8])
    return struct.unpack("!H", data[2:4])[0]


def compress(raw):
    d = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = d.compress(raw) + d.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


async def main():
    echo_url, broadcast_url, max_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    await echo(echo_url)
    await broadcast(broadcast_url)
    check(raw_close_code(echo_url, b"\xff\xfe garbage that is not deflate") == 1007, "corrupt deflate")
    check(raw_close_code(echo_url, compress(b"\xc3\x28 invalid utf-8")) == 1007, "bad utf-8 inside")
    bomb = compress(b"a" * (max_size + 1))
    check(len(bomb) < max_size, "bomb is not small")
    code = raw_close_code(echo_url, bomb)
    check(code == 1009, "inflated size over max_message_size: close %d" % code)
    print("RESULT ok %d checks" % checks)


asyncio.run(main())
