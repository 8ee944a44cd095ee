#!/bin/bash
# nspawn.sh: the Debian package under a real systemd. Builds the .deb
# (packaging/build-deb, lintian included), boots a Debian 12 container
# with systemd-nspawn, installs the package with apt, applies the
# documented production setup (the key as a systemd credential, a target
# against the fake provider on the host's loopback: the container shares
# the host's network) and checks what a user would:
#   - the install: units once, the warmd user, directories and their
#     owners, conffiles, no failed unit, the service idle on the shipped
#     config and saying so in its status;
#   - the setup: the target warms through the credential;
#   - warmd.socket activation: a member of group warmd pauses and resumes
#     through the activated socket, a non-member is refused;
#   - reload, stop, the watchdog, systemd-analyze security <= 1.5;
#   - no warning about warmd in the journal;
#   - dpkg -P leaves nothing behind but the warmd user and group (kept on
#     purge, as Debian does for system users: files elsewhere may still
#     carry their ids, and a reused id would inherit them).
#
# The root filesystem comes from debootstrap (the Debian mirror is the only
# address outside loopback this test reaches) and is cached between runs
# in $WARMD_TEST_CACHE (default /var/cache/warmd-test), keyed by what it
# holds; each run boots a throw-away copy of it.
#
# Exits 0 when every check passed, 1 otherwise, 77 (skip) when the machine
# cannot do it: not root, no systemd-nspawn or debootstrap to be had, or
# containers cannot start here.
#
#   tests/system/nspawn.sh [--keep]    --keep: leave the container's tree and logs
set -uo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${WARMD_TEST_CACHE:-/var/cache/warmd-test}
MIRROR=${WARMD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
KEY="warmd-nspawn-test-key-not-real" # the fake provider's; never a real-looking key
keep=0
[ "${1:-}" = "--keep" ] && keep=1

t_start=$(date +%s)
skip() {
	echo "SKIP: $*"
	exit 77
}
phase() { echo "== $(($(date +%s) - t_start))s: $*"; }

[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap, systemd-nspawn)"
command -v apt-get >/dev/null 2>&1 || skip "not a Debian machine (no apt-get)"
missing=""
command -v systemd-nspawn >/dev/null 2>&1 || missing="$missing systemd-container"
command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
command -v nsenter >/dev/null 2>&1 || missing="$missing util-linux"
if [ -n "$missing" ]; then
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing ||
		skip "cannot install$missing"
fi

work=$(mktemp -d /var/tmp/warmd-nspawn.XXXXXX)
nspawn_pid=""
fake_pid=""
cleanup() {
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		kill -TERM "$nspawn_pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$nspawn_pid" 2>/dev/null
		wait "$nspawn_pid" 2>/dev/null
	fi
	[ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null
	if [ $keep = 1 ]; then
		echo "kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

passed=0
failed=0
ok() {
	echo "ok - $*"
	passed=$((passed + 1))
}
fail() {
	echo "FAIL - $*"
	failed=$((failed + 1))
}
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
	local what=$1
	shift
	if out=$("$@" 2>&1); then ok "$what"; else fail "$what"; printf '%s\n' "$out" | sed 's/^/    /' | tail -20; fi
}
# die WHAT: a failure the rest cannot go on from.
die() {
	fail "$*"
	echo "$passed passed, $failed failed"
	exit 1
}
# expect_eq DESCRIPTION WANT GOT
expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: want '$2', got '$3'"; fi
}

# ---- 1. the package
phase "building the package"
if ! "$SRC/packaging/build-deb" "$work/out" >"$work/build-deb.log" 2>&1; then
	tail -40 "$work/build-deb.log"
	echo "FAIL - packaging/build-deb (log above)"
	exit 1
fi
sed -n '/^build-deb: lintian/,$p' "$work/build-deb.log" | grep -E '^[EW]:' && {
	echo "FAIL - lintian"
	exit 1
}
ok "packaging/build-deb, lintian clean"
deb=$(ls "$work"/out/warmd_*_"$(dpkg --print-architecture)".deb)

# ---- 2. the root filesystem: debootstrap once, with the package's dependencies
# (so that installing it needs no package list), cached under a key of its contents.
deps=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/[[:space:]]//g' |
	grep -v '^$' | sort -u | tr '\n' ',')
include="systemd,systemd-sysv,dbus,${deps%,}"
cache_key=$(printf '%s %s %s' "$SUITE" "$MIRROR" "$include" | sha256sum | cut -c1-12)
rootfs="$CACHE/rootfs-$SUITE-$cache_key"
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [ ! -d "$rootfs" ]; then
	phase "debootstrap $SUITE (not cached yet: $rootfs)"
	rm -rf "$rootfs.tmp"
	if ! debootstrap --variant=minbase --include="$include" "$SUITE" "$rootfs.tmp" "$MIRROR" \
		>"$work/debootstrap.log" 2>&1; then
		tail -20 "$work/debootstrap.log"
		rm -rf "$rootfs.tmp"
		echo "FAIL - debootstrap"
		exit 1
	fi
	rm -f "$rootfs.tmp"/var/cache/apt/archives/*.deb
	mv "$rootfs.tmp" "$rootfs"
	# older trees of this cache are of no further use
	for old in "$CACHE"/rootfs-*; do
		[ "$old" = "$rootfs" ] || rm -rf "$old"
	done
else
	phase "root filesystem from the cache: $rootfs"
fi
root="$work/root"
cp -a --reflink=auto "$rootfs" "$root"
flock -u 9

# nspawn ARGS...: only in a subshell ($(...) or &), which it replaces (so $! is its pid).
nspawn() {
	exec systemd-nspawn --quiet --register=no --keep-unit -D "$root" "$@"
}
if ! probe=$(nspawn --pipe /bin/true 2>&1); then
	skip "systemd-nspawn cannot run a container here: $probe"
fi

# ---- 3. the fake provider on the host's loopback, and the container
phase "starting the fake provider and booting the container"
python3 "$SRC/tests/fakeprov/fakeprov.py" --port 0 --port-file "$work/fake.port" \
	--anthropic-key "$KEY" --openai-key "" >"$work/fakeprov.log" 2>&1 &
fake_pid=$!
for _ in $(seq 100); do [ -s "$work/fake.port" ] && break; sleep 0.1; done
port=$(cat "$work/fake.port" 2>/dev/null) || { echo "FAIL - fake provider did not start"; exit 1; }

# not /tmp: nspawn mounts a tmpfs there
cp "$deb" "$root/root/"
nspawn --boot --console=passive --machine="warmd-test-$$" >"$work/boot.log" 2>&1 &
nspawn_pid=$!
ct=""
for _ in $(seq 100); do
	ct=$(pgrep -P "$nspawn_pid" -x systemd | head -1)
	[ -n "$ct" ] && break
	sleep 0.1
done
[ -n "$ct" ] || { cat "$work/boot.log"; die "the container did not boot"; }
# inside COMMAND...: runs a command in the container as root, with a clean environment.
inside() {
	nsenter -t "$ct" -a -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"
}
state=""
for _ in $(seq 150); do # until its systemd answers
	state=$(inside systemctl is-system-running --wait 2>/dev/null) && break
	case "$state" in starting | initializing | running | degraded) break ;; esac
	sleep 0.2
done
expect_eq "the container boots" running "$state"
[ "$state" = running ] || die "the container did not come up"
inside systemctl --failed --no-legend | sed 's/^/    failed before the install: /'

# ---- 4. the install
phase "apt-get install ./$(basename "$deb")"
if inside sh -c "cd /root && apt-get install -y ./$(basename "$deb")" >"$work/apt.log" 2>&1; then
	ok "apt-get install ./$(basename "$deb")"
else
	tail -20 "$work/apt.log" | sed 's/^/    /'
	die "apt-get install ./$(basename "$deb")"
fi
inside rm "/root/$(basename "$deb")"
grep -iE 'dpkg-new|^(E|W): |warning|error' "$work/apt.log" | grep -v '^N: ' &&
	fail "apt-get install printed warnings (above)" || ok "apt-get install printed no warning"
expect_eq "the service unit is installed once" 1 \
	"$(inside dpkg -L warmd | grep -c '/warmd\.service$')"
expect_eq "conffiles: warmd.conf and pricing.conf" "/etc/warmd/pricing.conf /etc/warmd/warmd.conf" \
	"$(inside dpkg-query -W -f='${Conffiles}' warmd | awk 'NF {print $1}' | sort | xargs)"
expect_eq "no failed unit after the install" "" "$(inside systemctl --failed --no-legend --plain)"
expect_eq "warmd.socket and warmd.service are active" "active active" \
	"$(inside systemctl is-active warmd.socket warmd.service | xargs)"
expect_eq "warmd.socket and warmd.service are enabled" "enabled enabled" \
	"$(inside systemctl is-enabled warmd.socket warmd.service | xargs)"
check "the warmd system user exists" inside getent passwd warmd
check "the warmd group exists" inside getent group warmd
expect_eq "owners and modes" \
	"/etc/warmd root:warmd 750 /var/lib/warmd warmd:warmd 750 /run/warmd warmd:warmd 750" \
	"$(inside stat -c '%n %U:%G %a' /etc/warmd /var/lib/warmd /run/warmd | xargs)"
expect_eq "the sockets as warmd.socket makes them" \
	"/run/warmd/control.sock warmd:warmd 660 socket /run/warmd/touch.sock warmd:warmd 660 socket" \
	"$(inside stat -c '%n %U:%G %a %F' /run/warmd/control.sock /run/warmd/touch.sock | xargs)"
expect_eq "idle on the shipped config, and says so" "idle: no targets configured" \
	"$(inside systemctl show -P StatusText warmd.service)"

# ---- 5. the documented setup: the key as a credential, a target
phase "the documented setup: credential drop-in, a target against the fake provider"
# README's Install section, command for command (the editor's part by sed)
printf '%s\n' "$KEY" | inside install -D -m 0600 /dev/stdin /etc/warmd/anthropic.key
inside install -D -m 0644 /usr/share/doc/warmd/examples/credentials.conf \
	-t /etc/systemd/system/warmd.service.d/
inside install -D -m 0644 /usr/share/doc/warmd/examples/support-bot.json \
	/etc/warmd/targets/support-bot.json
inside sed -i \
	-e "s|^providers = (|&\n  { name = \"anthropic\"; base_url = \"http://127.0.0.1:$port\"; api_key_file = \"anthropic.key\"; }|" \
	-e "s|^targets = (|&\n  { name = \"support-bot\"; request_file = \"targets/support-bot.json\"; }|" \
	/etc/warmd/warmd.conf
check "warmd --check-config as the unit runs it" inside systemd-run --wait --pipe --quiet \
	-p User=warmd -p LoadCredential=anthropic.key:/etc/warmd/anthropic.key \
	/usr/sbin/warmd --check-config -c /etc/warmd/warmd.conf
inside systemctl daemon-reload
check "systemctl restart warmd" inside systemctl restart warmd
warm=""
for _ in $(seq 60); do
	warm=$(inside warmctl --json status support-bot 2>/dev/null | grep -o '"state": *"[a-z]*"' | head -1)
	case "$warm" in *'"warm"'*) break ;; esac
	sleep 0.5
done
case "$warm" in *'"warm"'*) ok "the target warms (through the credential)" ;;
*) fail "the target did not warm: $warm"; inside warmctl status support-bot | sed 's/^/    /' ;; esac
for _ in $(seq 40); do # the status line is refreshed at most every 5 s
	status=$(inside systemctl show -P StatusText warmd.service)
	[ "$status" = "1/1 warm, 0 failing" ] && break
	sleep 0.25
done
expect_eq "the status line says so" "1/1 warm, 0 failing" "$status"
expect_eq "the key file is root's alone" "root:root 600" \
	"$(inside stat -c '%U:%G %a' /etc/warmd/anthropic.key)"
check "the key file itself is not readable by warmd" \
	inside sh -c '! runuser -u warmd -- cat /etc/warmd/anthropic.key'

# ---- 6. socket activation and the control group
phase "socket activation: a member of group warmd, and a stranger"
inside useradd -m -G warmd alice
inside useradd -m bob
inside systemctl stop warmd.service warmd.socket
inside systemctl start warmd.socket
expect_eq "after stop, only the socket listens" "inactive active" \
	"$(inside systemctl is-active warmd.service warmd.socket | xargs)"
check "alice (group warmd) pauses through the activated socket" \
	inside runuser -u alice -- warmctl pause support-bot
expect_eq "the connection started warmd.service" active "$(inside systemctl is-active warmd.service)"
check "the target is paused" inside sh -c 'warmctl --json status support-bot | grep -q "\"state\": *\"paused\""'
check "alice resumes it" inside runuser -u alice -- warmctl resume support-bot
check "alice reads the status" inside runuser -u alice -- warmctl status
check "bob (not in group warmd) is refused status" inside sh -c '! runuser -u bob -- warmctl status'
check "bob is refused pause" inside sh -c '! runuser -u bob -- warmctl pause support-bot'
check "the target is not paused" \
	inside sh -c '! warmctl --json status support-bot | grep -q "\"state\": *\"paused\""'
expect_eq "the sockets after activation" "warmd:warmd 660 warmd:warmd 660" \
	"$(inside stat -c '%U:%G %a' /run/warmd/control.sock /run/warmd/touch.sock | xargs)"

# ---- 7. an upgrade (the same package again): the admin's config stays, warmd comes back
phase "apt-get install --reinstall (as an upgrade does)"
cp "$deb" "$root/root/"
if inside sh -c "cd /root && apt-get install -y --reinstall ./$(basename "$deb")" >"$work/reinstall.log" 2>&1; then
	ok "apt-get install --reinstall"
else
	fail "apt-get install --reinstall"
	tail -20 "$work/reinstall.log" | sed 's/^/    /'
fi
inside rm "/root/$(basename "$deb")"
check "the edited warmd.conf (a conffile) is kept" inside grep -q '"support-bot"' /etc/warmd/warmd.conf
expect_eq "warmd.socket and warmd.service are active again" "active active" \
	"$(inside systemctl is-active warmd.socket warmd.service | xargs)"
check "alice still reaches it" inside runuser -u alice -- warmctl status support-bot

# ---- 8. reload, watchdog, security, stop
phase "reload, watchdog, security, stop"
check "systemctl reload warmd" inside systemctl reload warmd.service
expect_eq "still active after the reload" active "$(inside systemctl is-active warmd.service)"
expect_eq "the watchdog is armed" 30s "$(inside systemctl show -P WatchdogUSec warmd.service)"
ping1=$(inside systemctl show -P WatchdogTimestampMonotonic warmd.service)
sleep 16 # the loop pings every WatchdogSec/2
ping2=$(inside systemctl show -P WatchdogTimestampMonotonic warmd.service)
if [ "${ping1:-0}" -gt 0 ] && [ "${ping2:-0}" -gt "${ping1:-0}" ]; then
	ok "warmd pings the watchdog ($ping1 -> $ping2)"
else
	fail "no watchdog pings seen ($ping1 -> $ping2)"
fi
expect_eq "no restart so far" 0 "$(inside systemctl show -P NRestarts warmd.service)"
exposure=$(inside systemd-analyze security warmd.service 2>/dev/null |
	sed -n 's/.*Overall exposure level for warmd.service: \([0-9.]*\).*/\1/p')
echo "    systemd-analyze security: exposure $exposure"
if [ -n "$exposure" ] && awk "BEGIN {exit !($exposure <= 1.5)}"; then
	ok "systemd-analyze security exposure $exposure <= 1.5"
else
	fail "systemd-analyze security exposure '$exposure' > 1.5"
fi
check "systemctl stop warmd" inside systemctl stop warmd.service warmd.socket
expect_eq "stopped cleanly" "success 0" \
	"$(inside systemctl show -P Result warmd.service) $(inside systemctl show -P ExecMainStatus warmd.service)"
inside journalctl -b --no-pager -o short-monotonic -u warmd.service -u warmd.socket >"$work/warmd.journal"
warnings=$(inside journalctl -b --no-pager -o short-monotonic -p warning | grep -i warmd)
if [ -z "$warnings" ]; then
	ok "no warning about warmd in the journal (start, restart, activation, reload, stop)"
else
	fail "warnings about warmd in the journal:"
	printf '%s\n' "$warnings" | sed 's/^/    /'
fi
expect_eq "no failed unit" "" "$(inside systemctl --failed --no-legend --plain)"

# ---- 9. purge
phase "dpkg -P warmd"
if inside dpkg -P warmd >"$work/purge.log" 2>&1; then ok "dpkg -P warmd"; else fail "dpkg -P warmd"; fi
grep -iE 'warning|error|fail' "$work/purge.log" | sed 's/^/    /' | grep . &&
	fail "dpkg -P printed something alarming (above)" || ok "dpkg -P printed nothing alarming"
left=$(inside find / -xdev \( -path /proc -o -path /sys -o -path /var/log/journal -o -path /run/systemd \
	-o -path /tmp \) -prune -o -name '*warmd*' -print)
expect_eq "dpkg -P leaves no file named warmd behind" "" "$left"
expect_eq "no state, config or runtime directory left" "" \
	"$(inside ls -d /etc/warmd /var/lib/warmd /run/warmd /etc/systemd/system/warmd.service.d 2>/dev/null)"
check "the warmd user and group stay (Debian keeps system users on purge)" \
	inside getent passwd warmd
expect_eq "no failed unit after the purge" "" "$(inside systemctl --failed --no-legend --plain)"

phase "shutting the container down"
inside systemctl poweroff --no-block >/dev/null 2>&1
for _ in $(seq 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.2; done
wait "$nspawn_pid" 2>/dev/null
nspawn_pid=""

echo "nspawn.sh: $(($(date +%s) - t_start))s in all"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
