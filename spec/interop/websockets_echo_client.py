#!/usr/bin/python3
"""Drives a luahub echo server with the `websockets` library (an independent
RFC 6455 implementation) and prints one result line:
    RESULT ok <n> checks
    RESULT fail <what went wrong>
Usage: websockets_echo_client.py ws://127.0.0.1:PORT/ws
"""
import asyncio
import os
import sys

import websockets


async def run(url):
    checks = 0
    # permessage-deflate stays offered, as browsers offer it: the server must
    # decline it cleanly unless compression is enabled.
    async with websockets.connect(url, max_size=2**21, ping_interval=None) as ws:
        for size in (0, 1, 125, 126, 65535, 65536, 1048576):
            text = ("luahub" * (size // 6 + 1))[:size]
            await ws.send(text)
            echoed = await asyncio.wait_for(ws.recv(), 10)
            if echoed != text:
                return f"text of {size} bytes came back as {type(echoed).__name__} of {len(echoed)}"
            data = os.urandom(size)
            await ws.send(data)
            echoed = await asyncio.wait_for(ws.recv(), 10)
            if echoed != data:
                return f"binary of {size} bytes came back as {type(echoed).__name__} of {len(echoed)}"
            checks += 2

        # An iterable is sent as one fragmented message, one fragment per item.
        await ws.send(["fragmented ", "into ", "four ", "parts"])
        echoed = await asyncio.wait_for(ws.recv(), 5)
        if echoed != "fragmented into four parts":
            return f"fragmented text came back as {echoed!r}"
        await ws.send([b"\x00\x01", b"", b"\xff" * 70000])
        echoed = await asyncio.wait_for(ws.recv(), 5)
        if echoed != b"\x00\x01" + b"\xff" * 70000:
            return "fragmented binary came back different"
        checks += 2

        pong = await ws.ping(b"interop")
        await asyncio.wait_for(pong, 5)
        checks += 1

        await ws.close(1000, "done")
        if ws.close_code != 1000:
            return f"server answered close with {ws.close_code}"
        checks += 1
    return checks


def main():
    try:
        result = asyncio.run(run(sys.argv[1]))
    except Exception as err:  # report every failure on the result line
        result = f"{type(err).__name__}: {err}"
    if isinstance(result, int):
        print(f"RESULT ok {result} checks")
    else:
        print(f"RESULT fail {result}")


main()
