#!/usr/bin/env python3
"""Collects seed inputs for the fuzz targets into OUT/<target>/ (raw, not
minimised): the test fixtures, config/, the string literals of the unit
tests that exercise each parser, and a few hand-written cases.

scripts/fuzz.sh --seed runs this and merges the result into the committed
corpus with libFuzzer's -merge=1, which keeps only inputs that add coverage.
"""
import glob
import hashlib
import os
import re
import sys

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Adjacent C string literals ("a" "b" -> "ab"), the way the compiler joins them.
LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
JOINED = re.compile(r'(?:"(?:[^"\\\n]|\\.)*"\s*)+')
ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "0": "\0", "\\": "\\", '"': '"', "'": "'"}


def unescape(body):
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        n = body[i + 1]
        if n == "x":
            m = re.match(r"[0-9a-fA-F]{1,2}", body[i + 2:])
            out.append(chr(int(m.group(0), 16)))
            i += 2 + len(m.group(0))
        elif n in "01234567" and re.match(r"[0-7]{3}", body[i + 1:]):
            out.append(chr(int(body[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(ESCAPES.get(n, n))
            i += 2
    return "".join(out)


def literals(path):
    text = open(os.path.join(SRC, path), encoding="utf-8").read()
    text = re.sub(r"#include [<\"].*", "", text)
    for m in JOINED.finditer(text):
        yield unescape("".join(LITERAL.findall(m.group(0))))


def files(pattern):
    for p in sorted(glob.glob(os.path.join(SRC, pattern), recursive=True)):
        with open(p, "rb") as f:
            yield f.read()


def from_tests(paths, keep):
    for p in paths:
        for s in literals(p):
            if keep(s):
                yield s.encode("utf-8", "surrogateescape")


def from_q_tests(paths, keep):
    """The same from tests that write JSON with ' for " (their Q() helper)."""
    for p in paths:
        for s in literals(p):
            s = s.replace("'", '"')
            if keep(s):
                yield s.encode("utf-8", "surrogateescape")


BEDROCK_TESTS = ["tests/unit/check_adapter_bedrock.c", "tests/unit/check_adapter_converse.c"]


def fixtures_json():
    for pat in ("tests/fixtures/**/*.json", "config/examples/*.json"):
        yield from files(pat)


HAND = {
    "fuzz_proto": [
        '{"cmd":"ping"}', '{"cmd":"status"}', '{"cmd":"status","target":"support-bot"}',
        '{"cmd":"warm","all":true}', '{"cmd":"pause","target":"a"}',
        '{"cmd":"resume","all":true}', '{"cmd":"reload"}', '{"cmd":"metrics"}',
        '{"cmd":"touch","target":"t","result":"hit","cached":4096,"input":12}',
        '{"cmd":"versions","target":"t"}', '{"cmd":"audit"}',
        '{"cmd":"test","target":"t","n":3,"variants":[{"file":"a.json","body":"{}"}]}',
        '{"cmd":"shift","target":"t","version":"green","percent":25}',
        '{"cmd":"promote","target":"t","version":"green"}', '{"cmd":"rollback","target":"t"}',
        '{"cmd":"route","target":"t"}',
        '{"cmd":"ping"}\n{"cmd":"status"}\r\n{"cmd":"audit","target":"x"}\n',
        '{"ok":true,"data":{"targets":[]}}', '{"ok":false,"error":{"code":"bad_json","message":"x"}}',
    ],
    "fuzz_touch": [
        "support-bot", "support-bot hit", "t miss cached=0 input=1",
        "billing@green hit cached=4096", "t\thit\r\n",
    ],
    "fuzz_ratelimit": [
        "HTTP/2 429\r\nretry-after: 12\r\nx-should-retry: true\r\n\r\n",
        "retry-after: Wed, 21 Oct 2026 07:28:00 GMT\r\n",
        "anthropic-ratelimit-input-tokens-limit: 40000\r\n"
        "anthropic-ratelimit-input-tokens-remaining: 100\r\n"
        "anthropic-ratelimit-input-tokens-reset: 2026-01-01T00:00:30.25+00:00\r\n",
        "x-ratelimit-reset-tokens: 1h2m3.5s\r\nx-ratelimit-remaining-tokens: 0\r\n"
        "x-ratelimit-limit-tokens: 10\r\n",
    ],
    "fuzz_cluster": [
        "redis://10.0.0.5:6379/0", "redis://warmd@[::1]:6380/2", "redis://h",
        "unix:///run/redis/redis.sock", "unix:///tmp/x/redis.sock?db=2",
        "redis://:pw@h", "rediss://h",
        "v1 00ab00cd00ef0012 10000 12 ea7bd50b73d77326",
        "v1 host-a 1767225600.250 1767225900.125 3057 hit",
        "v1 b 0 0 0 none", "support-bot@green 25", "2de1a12c52ebb660",
    ],
    "fuzz_duration": ["5m", "1h30m", "250ms", "6", "1.5s", "2d", "0", "365d", "1h0m0s0ms"],
    "fuzz_schedule": [
        "Mon-Fri 07:30-19:00 Europe/Berlin", "Sat,Sun 00:00-24:00",
        "Fri-Mon 22:00-06:00 UTC\nDaily 09:00-17:00 America/New_York",
        "* 23:59-00:01 Asia/Kolkata", "tue,THU 12:00-13:30 Australia/Lord_Howe",
    ],
    "fuzz_response": [
        '{"usage":{"input_tokens":10,"output_tokens":1,"cache_read_input_tokens":2048,'
        '"cache_creation_input_tokens":0}}',
        '{"usage":{"prompt_tokens":2000,"completion_tokens":1,"prompt_tokens_details":'
        '{"cached_tokens":1920}}}',
        '{"usage":{"input_tokens":2000,"output_tokens":16,"input_tokens_details":'
        '{"cached_tokens":0,"cache_write_tokens":1990}}}',
        '{"usage":{"prompt_tokens":5,"completion_tokens":1},"timings":{"cache_n":100,'
        '"prompt_n":5}}',
        '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
        '{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}',
        "<html><body>502 Bad Gateway</body></html>",
        '{"output":{"message":{"role":"assistant","content":[{"text":"o"}]}},"stopReason":'
        '"max_tokens","usage":{"inputTokens":9,"outputTokens":1,"totalTokens":2220,'
        '"cacheReadInputTokens":2210,"cacheWriteInputTokens":0}}',
        '{"__type":"com.amazon.coral.validate#ValidationException","message":"bad"}',
        '{"Message":"The security token included in the request is invalid."}',
    ],
}


def seeds(target):
    if target == "fuzz_proto":
        yield from from_tests(["tests/unit/check_proto.c"], lambda s: s.startswith("{"))
    elif target == "fuzz_touch":
        yield from from_tests(["tests/unit/check_touch.c"],
                              lambda s: 0 < len(s) <= 512 and "%" not in s)
    elif target == "fuzz_ratelimit":
        yield from from_tests(["tests/unit/check_ratelimit.c"],
                              lambda s: ":" in s or s[:1].isdigit())
    elif target == "fuzz_cluster":
        yield from from_tests(["tests/unit/check_redis_url.c", "tests/unit/check_cluster_proto.c"],
                              lambda s: 0 < len(s) <= 600 and "%" not in s and " want " not in s)
    elif target == "fuzz_duration":
        yield from from_tests(["tests/unit/check_duration.c"],
                              lambda s: 0 < len(s) < 40 and "%" not in s)
    elif target == "fuzz_schedule":
        yield from from_tests(["tests/unit/check_policy.c", "tests/unit/check_config.c"],
                              lambda s: re.search(r"\d\d:\d\d-", s) is not None and "{" not in s)
    elif target == "fuzz_response":
        yield from files("tests/fixtures/*/response_*.json")
        yield from files("tests/fixtures/bedrock/*_response_*.json")
        yield from files("tests/fixtures/bedrock/error_*.json")
        yield from from_q_tests(BEDROCK_TESTS,
                                lambda s: s.startswith("{") and ("usage" in s or "message" in s))
        yield from from_tests(["tests/unit/check_adapter_anthropic.c",
                               "tests/unit/check_adapter_openai.c",
                               "tests/unit/check_ratelimit.c"],
                              lambda s: s.startswith("{") and ("usage" in s or "error" in s))
    elif target in ("fuzz_template", "fuzz_jsonx"):
        yield from fixtures_json()
        tests = ["tests/unit/check_template.c", "tests/unit/check_adapter_anthropic.c",
                 "tests/unit/check_adapter_openai.c", "tests/unit/check_adapter_vertex.c"]
        if target == "fuzz_jsonx":
            tests.append("tests/unit/check_jsonx.c")
        yield from from_tests(tests, lambda s: s[:1] in "{[" or s[:1].isdigit())
        yield from from_q_tests(BEDROCK_TESTS, lambda s: s[:1] in "{[")
    elif target == "fuzz_config":
        yield from files("config/warmd.conf")
        yield from from_tests(["tests/unit/check_config.c", "tests/unit/check_pricing.c"],
                              lambda s: "=" in s and ";" in s and "@include" not in s)
    elif target == "fuzz_pricing":
        yield from files("config/pricing.conf")
        yield from from_tests(["tests/unit/check_pricing.c"],
                              lambda s: "pricing" in s and "=" in s and "@include" not in s)
    elif target == "fuzz_jwt":
        yield from from_tests(["tests/unit/check_jwt.c", "tests/unit/check_oauth.c"],
                              lambda s: s.startswith("{"))
        yield from files("tests/fuzz/corpus/fuzz_jwt/*")
    elif target == "fuzz_state":
        # Seeds written by warmd itself: see fuzz_state.c (WARMD_FUZZ_STATE_SEED).
        yield from files("tests/fuzz/corpus/fuzz_state/*")
    for s in HAND.get(target, []):
        yield s.encode()


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: make_corpus.py TARGET OUTDIR")
    target, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    n = 0
    for data in seeds(target):
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        n += 1
    print(f"{target}: {n} seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
