#!/usr/bin/env python3
"""peer_aiohttp: the warmer a developer would write from the usual advice.

asyncio + aiohttp, one keep-alive session, 32 requests in flight, N POSTs of
the same body (the warm body: max_tokens 0), each answer's JSON parsed and
its usage read. The burst budget in docs/benchmarks.md compares warmd with
this, against the same loopback server in the same run.

    python3 tests/bench/peer_aiohttp.py URL BODY_FILE [--requests 20000]
                                        [--inflight 32] [--key KEY]

Prints one JSON object: requests, errors, seconds, rate (requests/s), and
the sum of the usage fields it read (so the parsing cannot be skipped).
"""
import argparse
import asyncio
import json
import sys
import time

import aiohttp


async def run(url, body, n, inflight, key):
    headers = {"content-type": "application/json", "x-api-key": key,
               "anthropic-version": "2023-06-01"}
    todo = iter(range(n))
    done = errors = 0
    tokens = {"input_tokens": 0, "cache_read_input_tokens": 0,
              "cache_creation_input_tokens": 0, "output_tokens": 0}
    conn = aiohttp.TCPConnector(limit=inflight, keepalive_timeout=600)
    async with aiohttp.ClientSession(connector=conn, headers=headers) as session:
        async def worker():
            nonlocal done, errors
            for _ in todo:
                try:
                    async with session.post(url, data=body) as resp:
                        answer = await resp.json()
                        if resp.status != 200:
                            errors += 1
                            continue
                        usage = answer["usage"]
                        for k in tokens:
                            tokens[k] += int(usage.get(k) or 0)
                        done += 1
                except (aiohttp.ClientError, ValueError, KeyError):
                    errors += 1
        t0 = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(inflight)))
        seconds = time.monotonic() - t0
    return {"requests": done, "errors": errors, "seconds": seconds,
            "rate": done / seconds if seconds > 0 else 0.0, "usage": tokens}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("body_file")
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--inflight", type=int, default=32)
    ap.add_argument("--key", default="fake-anthropic-key")
    a = ap.parse_args()
    with open(a.body_file, "rb") as f:
        body = f.read()
    res = asyncio.run(run(a.url, body, a.requests, a.inflight, a.key))
    json.dump(res, sys.stdout)
    print()


if __name__ == "__main__":
    main()
