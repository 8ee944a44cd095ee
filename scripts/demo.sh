#!/bin/sh
# Demo: builds warmd, starts the project's fake provider on loopback (no API
# key, no network), and runs warmd keeping two real-sized prefixes warm (one
# Anthropic, one OpenAI chat) with a 20-second cache TTL, showing
# `warmctl status` as it goes. DEMO_SECONDS sets how long it runs (default 45).
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)

scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)" >/dev/null

dir=$(mktemp -d /tmp/warmd-demo.XXXXXX)
fake_pid=""
warmd_pid=""
cleanup() {
	[ -n "$warmd_pid" ] && kill -TERM "$warmd_pid" 2>/dev/null && wait "$warmd_pid" 2>/dev/null
	[ -n "$fake_pid" ] && kill -TERM "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

ttl=20
python3 tests/fakeprov/fakeprov.py --port 0 --port-file "$dir/port" \
	--ttl-5m "$ttl" --openai-ttl "$ttl" >"$dir/fakeprov.log" 2>&1 &
fake_pid=$!
i=0
while [ ! -s "$dir/port" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && { echo "demo: fake provider did not start" >&2; cat "$dir/fakeprov.log" >&2; exit 1; }
	sleep 0.1
done
port=$(cat "$dir/port")

# The fake provider accepts these obviously fake keys.
(umask 077 && echo "fake-anthropic-key" >"$dir/anthropic.key") # 0600, as a key file should be
cat >"$dir/warmd.conf" <<CONF
daemon = { control_socket = "$dir/control.sock"; state_file = "$dir/state.json"; log_level = "info";
           pricing_file = "$top/config/pricing.conf"; };
providers = (
  { name = "anthropic"; base_url = "http://127.0.0.1:$port"; api_key_file = "anthropic.key"; },
  { name = "openai"; base_url = "http://127.0.0.1:$port/v1"; api_key_env = "DEMO_OPENAI_KEY"; }
);
targets = (
  { name = "support-bot"; provider = "anthropic"; ttl = $ttl;
    request_file = "$top/config/examples/support-bot.json"; },
  { name = "support-bot-openai"; provider = "openai"; ttl = $ttl;
    request_file = "$top/config/examples/openai-chat.json"; }
);
CONF

echo "== warmd --check-config"
DEMO_OPENAI_KEY=fake-openai-key build/warmd --check-config -c "$dir/warmd.conf"
echo "== starting warmd against the fake provider on 127.0.0.1:$port (cache TTL ${ttl}s)"
DEMO_OPENAI_KEY=fake-openai-key build/warmd -c "$dir/warmd.conf" 2>"$dir/warmd.log" &
warmd_pid=$!
sleep 1

end=$(($(date +%s) + ${DEMO_SECONDS:-45}))
while [ "$(date +%s)" -lt "$end" ]; do
	echo
	echo "== $(date +%T)  build/warmctl -s $dir/control.sock status"
	build/warmctl -s "$dir/control.sock" status
	sleep 7
done
echo
echo "== warmd's log"
cat "$dir/warmd.log"
echo
echo "== what the fake provider's cache saw (each prefix written once, then only read)"
python3 - "$port" <<'PY'
import json, sys, urllib.request
s = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_fake/state"))
print(f"requests: {s['requests']}")
for e in s["entries"]:
    print(f"  {e['api']:9} prefix {e['key']} {e['tokens']:5} tokens: written {e['writes']}x, read {e['reads']}x, alive={e['alive']}, dead {e['dead_s']:.1f}s")
PY
