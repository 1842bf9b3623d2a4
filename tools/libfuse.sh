#!/bin/sh
# Fetches, checks and builds libfuse 3.17 as a static library, for systems
# whose own libfuse is older (Debian 12 has 3.14; FUSE passthrough needs
# 3.17).  `make` runs it once; the result stays in DIR (default
# build/libfuse):
#
#   DIR/install/include/fuse3, DIR/install/lib/libfuse3.a and its .pc
#
# The source is Debian 13's fuse3 package, from the same Debian archive
# apt uses here, through a private apt configuration (its own sources
# list, lists and cache under DIR/apt): nothing of the system's apt setup is
# read or changed.  It is checked twice over: apt accepts the archive's
# index only if its signature verifies against debian-archive-keyring, and
# every file against the hashes in that index; dpkg-source -x checks the
# files again against the .dsc.  Any failure stops here, loudly.
#
#   sh tools/libfuse.sh [DIR]
set -eu

DIR=${1:-build/libfuse}
SUITE=trixie # Debian 13: fuse3 3.17.2
MIRROR=${TRAINFS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

die() {
	echo "libfuse: error: $*" >&2
	echo "libfuse: (to build against the system's libfuse instead," \
	     "without passthrough: make LIBFUSE=system)" >&2
	exit 1
}

for tool in apt-get dpkg-source meson ninja; do
	command -v "$tool" >/dev/null 2>&1 ||
		die "'$tool' is missing: run 'make deps' (or install meson ninja-build dpkg-dev)"
done
[ -r "$KEYRING" ] ||
	die "cannot read '$KEYRING': install debian-archive-keyring"

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
APT="$DIR/apt"
SRC="$DIR/src"
rm -rf "$APT" "$SRC" "$DIR/build" "$DIR/install"
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" \
	 "$APT/sources.list.d" "$SRC"

# Only a deb-src line, signed by Debian's archive key and nothing else.
echo "deb-src [signed-by=$KEYRING] $MIRROR $SUITE main" >"$APT/sources.list"
set -- \
	-o Dir::Etc::SourceList="$APT/sources.list" \
	-o Dir::Etc::SourceParts="$APT/sources.list.d" \
	-o Dir::State::Lists="$APT/lists" \
	-o Dir::Cache="$APT/cache" \
	-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= \
	-o Acquire::AllowInsecureRepositories=false \
	-o Acquire::AllowDowngradeToInsecureRepositories=false \
	-o APT::Get::AllowUnauthenticated=false \
	-o APT::Sandbox::User="$(id -un)"

echo "libfuse: fetching Debian $SUITE's fuse3 source (private apt setup in $APT)"
# apt-get update exits 0 with only a warning for some failures: a source
# whose signature does not verify is dropped, which the next step notices.
apt-get -q "$@" update >"$APT/update.log" 2>&1 || {
	cat "$APT/update.log" >&2
	die "apt-get update failed (no network? no valid signature?)"
}
if grep -q '^[EW]: ' "$APT/update.log"; then
	cat "$APT/update.log" >&2
	die "the $SUITE index did not verify against $KEYRING"
fi
(cd "$SRC" && apt-get -q "$@" source --download-only fuse3) \
	>"$APT/source.log" 2>&1 || {
	cat "$APT/source.log" >&2
	die "apt-get source fuse3 failed"
}

dsc=$(ls "$SRC"/fuse3_*.dsc 2>/dev/null | head -n 1)
[ -n "$dsc" ] || die "no fuse3 .dsc was downloaded"
version=$(sed -n 's/^Version: //p' "$dsc")
upstream=${version%%-*}
case "$upstream" in
3.1[7-9]* | 3.[2-9][0-9]* | [4-9].*) ;;
*) die "Debian $SUITE has fuse3 $version; passthrough needs 3.17 or newer" ;;
esac

# dpkg-source checks every file against the .dsc's sizes and hashes
# (fatal) and the .dsc's own signature where a Debian keyring is installed
# (debian-keyring; without it, the archive signature above vouches).
(cd "$SRC" && dpkg-source -x "$(basename "$dsc")" fuse3) \
	>"$SRC/unpack.log" 2>&1 || {
	cat "$SRC/unpack.log" >&2
	die "dpkg-source -x $(basename "$dsc") failed"
}

echo "libfuse: building fuse3 $version (static) in $DIR/build"
meson setup "$DIR/build" "$SRC/fuse3" --prefix="$DIR/install" \
	--libdir=lib --buildtype=release --default-library=static \
	-Dutils=false -Dexamples=false -Dtests=false -Duseroot=false \
	-Dinitscriptdir= -Dudevrulesdir="$DIR/install/udev" \
	>"$DIR/meson.log" 2>&1 || {
	cat "$DIR/meson.log" >&2
	die "meson setup failed"
}
ninja -C "$DIR/build" install >"$DIR/ninja.log" 2>&1 || {
	tail -n 40 "$DIR/ninja.log" >&2
	die "building libfuse failed (see $DIR/ninja.log)"
}
[ -f "$DIR/install/lib/libfuse3.a" ] &&
	[ -f "$DIR/install/lib/pkgconfig/fuse3.pc" ] ||
	die "the build did not install libfuse3.a and fuse3.pc"
echo "$version" >"$DIR/install/VERSION"
echo "libfuse: fuse3 $version ready in $DIR/install"
