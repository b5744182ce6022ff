#!/bin/sh
# The version is one string everywhere: debian/changelog's top entry, the
# CMake project VERSION and TIDE_VERSION_STRING (what tide_version()
# returns).  Usage: scripts/check-version.sh SOURCE_DIR CMAKE_VERSION
set -eu
src=$1
cmake=$2
deb=$(sed -n '1s/^tide (\([^)]*\)).*/\1/p' "$src/debian/changelog")
hdr=$(sed -n 's/^#define TIDE_VERSION_STRING "\(.*\)"/\1/p' "$src/include/tide/common.h")
parts=$(awk '/^#define TIDE_VERSION_(MAJOR|MINOR|PATCH) / { printf "%s%s", s, $3; s = "." }' \
	"$src/include/tide/common.h")
echo "debian/changelog $deb, CMake $cmake, TIDE_VERSION_STRING $hdr, TIDE_VERSION_* $parts"
if [ "$deb" = "$cmake" ] && [ "$hdr" = "$cmake" ] && [ "$parts" = "$cmake" ]; then
	echo "ok - one version"
	exit 0
fi
echo "not ok - versions differ"
exit 1
