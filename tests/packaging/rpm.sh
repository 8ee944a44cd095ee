#!/bin/sh
# rpm.sh: packaging/warmd.spec builds, with every installed file packaged
# and every packaged file installed. On this Debian machine: rpmlint
# checks the spec (no error), rpmbuild builds the source and binary RPMs
# from a tarball of the tracked tree, with the few Fedora macros the spec
# needs from tests/packaging/fedora.macros and without checking
# BuildRequires (--nodeps: they name Fedora packages). rpmbuild itself
# fails on an installed file %files does not list and on a listed file
# that is not there; this test also checks what the binary RPM holds:
# config files, licenses, docs, the sysusers %pre, the units.
# Skips (77) without rpmbuild and rpmlint (Debian packages rpm, rpmlint:
# scripts/deps.sh installs them).
set -eu

SRC=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$SRC/tests/packaging"
for tool in rpmbuild rpmlint rpm; do
	command -v $tool >/dev/null 2>&1 || {
		echo "SKIP: $tool not found (apt-get install rpm rpmlint)"
		exit 77
	}
done

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

top=$(mktemp -d /tmp/warmd-rpm.XXXXXX)
trap '[ -n "${WARMD_KEEP:-}" ] || rm -rf "$top"' EXIT INT TERM

echo "== rpmlint packaging/warmd.spec"
# Alone, without warmd.rpmlintrc (rpmlint takes it from beside the spec): its
# filters are for the built packages, and unused ones are errors.
mkdir "$top/spec"
cp "$SRC/packaging/warmd.spec" "$top/spec/"
if rpmlint "$top/spec/warmd.spec" >"$top/lint" 2>&1; then
	ok "rpmlint: no error in the spec"
else
	fail "rpmlint reports errors in the spec"
fi
grep -E '^warmd|specfiles checked' "$top/lint" | sed 's/^/    /'

mkdir -p "$top/SOURCES"
cp "$SRC/systemd/sysusers.d/warmd.conf" "$top/SOURCES/warmd.sysusers"
version=$(rpmspec --load "$HERE/fedora.macros" --define "_topdir $top" -q --srpm --qf '%{version}' \
	"$SRC/packaging/warmd.spec")
mkdir -p "$top/tree/warmd-$version"
# The tracked files as the work tree has them, like packaging/build-deb.
(cd "$SRC" && git ls-files) | while IFS= read -r f; do
	if [ -e "$SRC/$f" ] || [ -L "$SRC/$f" ]; then printf '%s\n' "$f"; fi
done >"$top/files"
tar -C "$SRC" -cf - -T "$top/files" | tar -xf - -C "$top/tree/warmd-$version"
tar -C "$top/tree" -czf "$top/SOURCES/warmd-$version.tar.gz" "warmd-$version"

echo "== rpmbuild -ba (without the unit tests; --with check runs them)"
if rpmbuild -ba --nodeps --without check --load "$HERE/fedora.macros" \
	--define "_topdir $top" --define "_smp_build_ncpus $(nproc 2>/dev/null || echo 2)" \
	"$SRC/packaging/warmd.spec" >"$top/build.log" 2>&1; then
	ok "rpmbuild -ba: every installed file packaged, every packaged file installed"
else
	tail -30 "$top/build.log" | sed 's/^/    /'
	fail "rpmbuild -ba"
	echo "$passed passed, $failed failed"
	exit 1
fi

rpmfile=$(ls "$top"/RPMS/*/warmd-"$version"-1.test.*.rpm | grep -v debug)
srpm=$(ls "$top"/SRPMS/warmd-"$version"-1.test.src.rpm)
q() { rpm -qp "$@" "$rpmfile" 2>/dev/null; }

want_config="/etc/warmd/pricing.conf /etc/warmd/warmd.conf"
got=$(q -c | sort | xargs)
[ "$got" = "$want_config" ] && ok "%config(noreplace): $got" || fail "config files: $got"
got=$(q --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' | awk '$2 ~ /^\/etc\/warmd\/.*conf$/ {print $1}' | sort -u | xargs)
[ "$got" = "cn" ] && ok "both are noreplace" || fail "config flags: $got"
got=$(q -L | sed 's#.*/##' | sort | xargs)
[ "$got" = "LICENSE NOTICE" ] && ok "%license: $got" || fail "licenses: $got"
q -d | grep -qx /usr/share/doc/warmd/README.md &&
	q -d | grep -qx /usr/share/doc/warmd/examples/credentials.conf &&
	q -d | grep -qx /usr/share/doc/warmd/examples/warmd-rules.yml &&
	ok "%doc: README.md, examples/ (as in the .deb)" ||
	fail "docs: $(q -d | xargs)"
missing=""
for f in /usr/sbin/warmd /usr/bin/warmctl /usr/lib/systemd/system/warmd.service \
	/usr/lib/systemd/system/warmd.socket /usr/lib/sysusers.d/warmd.conf \
	/usr/lib/tmpfiles.d/warmd.conf /usr/share/man/man1/warmctl.1.gz \
	/usr/share/man/man5/warmd.conf.5.gz /usr/share/man/man8/warmd.8.gz /var/lib/warmd /run/warmd; do
	q -l | grep -qx "$f" || missing="$missing $f"
done
[ -z "$missing" ] && ok "binaries, units, sysusers.d, tmpfiles.d, man pages, state and runtime directories" ||
	fail "missing from the RPM:$missing"
got=$(q --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]' |
	awk '$3 == "/etc/warmd" || $3 == "/var/lib/warmd" || $3 == "/run/warmd"' | sort | xargs)
want="drwxr-x--- root:warmd /etc/warmd drwxr-x--- warmd:warmd /run/warmd drwxr-x--- warmd:warmd /var/lib/warmd"
[ "$got" = "$want" ] && ok "directory owners and modes" || fail "directories: $got"
q --scripts | grep -q 'useradd -r -g warmd -d /var/lib/warmd -s /sbin/nologin warmd' &&
	ok "%pre creates the warmd user from the sysusers.d file" || fail "%pre: $(q --scripts | head -5)"
cmp -s "$top/SOURCES/warmd.sysusers" "$top/tree/warmd-$version/systemd/sysusers.d/warmd.conf" &&
	ok "Source1 is the tarball's sysusers.d file" || fail "Source1 differs"
q --qf '%{URL} %{LICENSE}\n' | grep -q '^https://.* Apache-2.0$' && ok "URL and License" ||
	fail "URL/License: $(q --qf '%{URL} %{LICENSE}')"
rpm -qp --changelog "$rpmfile" | grep -q "0.1.0-1" && ok "%changelog" || fail "%changelog"
echo "== rpmlint on the spec and the built packages, with packaging/warmd.rpmlintrc"
cat "$SRC/packaging/warmd.rpmlintrc" "$HERE/test.rpmlintrc" >"$top/rpmlintrc"
rpmlint -c "$HERE/rpmlint.toml" -r "$top/rpmlintrc" "$SRC/packaging/warmd.spec" "$srpm" "$rpmfile" \
	>"$top/lint-rpms" 2>&1
grep -E '^warmd|packages and' "$top/lint-rpms" | sed 's/^/    /'
grep -q ' 0 errors, 0 warnings' "$top/lint-rpms" &&
	ok "rpmlint: no error and no warning but those filtered, each with its reason" ||
	fail "rpmlint on the spec and the built packages"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
