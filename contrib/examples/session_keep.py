"""Keep a conversation's prompt cache warm with warmd while it is in use.

    python3 session_keep.py keep NAME PROVIDER BODY.json [FOR]   # FOR: "20m", or seconds
    python3 session_keep.py drop NAME

NAME is the session ("support:42"), PROVIDER one of warmd.conf's, BODY.json
the request body the application will send next, breakpoints included.
The socket is $WARMD_SOCKET, else /run/warmd/control.sock. An agent loop
calls keep() before a long tool call (FOR: the tool's timeout and a
margin), and drop() when its task is over. No library: one JSON line out,
one back (docs/protocol.md).
"""
import json
import os
import socket
import sys


def warmd(request):
    """Sends one request to warmd's control socket; returns its data."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(os.environ.get("WARMD_SOCKET", "/run/warmd/control.sock"))
        s.sendall(json.dumps(request).encode() + b"\n")
        answer = json.loads(s.makefile("rb").readline())
    if not answer["ok"]:
        raise RuntimeError(f'{answer["error"]["code"]}: {answer["error"]["message"]}')
    return answer["data"]


def keep(name, provider, body, keep_for="20m"):
    """Keeps the conversation in body (a dict, or its JSON text) warm for keep_for."""
    text = body if isinstance(body, str) else json.dumps(body)
    return warmd({"cmd": "keep", "target": name, "provider": provider, "body": text,
                  "for": keep_for})


def drop(name):
    """The conversation is over: no further warm."""
    return warmd({"cmd": "drop", "target": name})


if __name__ == "__main__":
    try:
        if len(sys.argv) in (5, 6) and sys.argv[1] == "keep":
            with open(sys.argv[4]) as f:
                data = keep(sys.argv[2], sys.argv[3], f.read(), *sys.argv[5:])
        elif len(sys.argv) == 3 and sys.argv[1] == "drop":
            data = drop(sys.argv[2])
        else:
            sys.exit(__doc__)
    except (OSError, RuntimeError) as err:
        sys.exit(f"session_keep: {err}")
    print(data["message"])
