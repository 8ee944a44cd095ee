#!/bin/sh
# Installs the Debian packages warmd needs to build, test and run its demo,
# and only those that are missing. Safe to run again. Needs root (or sudo).
#
#   scripts/deps.sh          build, tests, demo
#   scripts/deps.sh bench    the same and the benchmarks' tools (tests/bench/)
#
# Packages are installed without starting the services they ship (nginx,
# prometheus): the tests start their own servers on loopback.
set -eu

# Test tools: prometheus (promtool checks the metrics), systemd and man-db
# (systemd-analyze verify/security, systemd-socket-activate, systemd-sysusers),
# valgrind (the soak test), util-linux (setpriv, to act as another user),
# nodejs and npm (the OpenAI schema contract test runs ajv under node),
# clang and libclang-rt-14-dev (scripts/fuzz.sh: libFuzzer's runtime);
# packaging tests: dpkg-dev, debhelper and lintian (packaging/build-deb),
# debootstrap and systemd-container (the .deb under systemd-nspawn), rpm and
# rpmlint (the RPM spec). Cluster mode: libhiredis-dev (its Redis client, with
# the libuv adapter) and redis-server (the tests start their own on a unix
# socket; its service is not started).
PKGS="build-essential cmake pkg-config libuv1-dev libcurl4-openssl-dev libconfig-dev
libsystemd-dev check libjson-c-dev libssl-dev libmicrohttpd-dev libhiredis-dev redis-server python3 clang-format
prometheus systemd man-db valgrind util-linux nodejs tzdata clang libclang-rt-14-dev
dpkg-dev debhelper lintian debootstrap systemd-container rpm rpmlint"
# Benchmarks: nginx (the instant loopback server), wrk (its ceiling),
# python3-aiohttp (the Python peer), strace and linux-perf (system calls and
# loop wake-ups).
BENCH_PKGS="nginx wrk python3-aiohttp strace linux-perf"
case "${1:-}" in
"") ;;
bench) PKGS="$PKGS $BENCH_PKGS" ;;
*)
	echo "usage: scripts/deps.sh [bench]" >&2
	exit 2
	;;
esac

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# Debian's nodejs needs its npm package; NodeSource's nodejs bundles npm and
# conflicts with Debian's, so npm is only added when no npm is on the PATH.
if ! command -v npm >/dev/null 2>&1 && ! echo "$missing" | grep -q npm; then
	missing="$missing npm"
fi
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "deps.sh: need root to install:$missing" >&2; exit 1; }
	SUDO=sudo
fi
echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# policy-rc.d (exit 101) keeps the packages' own services from starting; one
# that is already there (containers have one) is left alone.
rcd=/usr/sbin/policy-rc.d
if [ ! -e "$rcd" ]; then
	printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$rcd" >/dev/null
	$SUDO chmod 755 "$rcd"
	trap '$SUDO rm -f "$rcd"' EXIT
fi
# A fresh machine has no package lists; refresh them once if an install fails.
# shellcheck disable=SC2086
$SUDO apt-get install -y --no-install-recommends $missing ||
	{ $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends $missing; }
