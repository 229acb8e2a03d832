#!/bin/sh
# mkbase.sh makes pbuild's base image without any registry: a minimal Debian
# root filesystem from debootstrap (a shell, gcc, libc headers, CA roots),
# imported into the local Docker engine with `docker import`.
#
# usage: images/mkbase.sh [IMAGE]        (default: pbuild/base:bookworm)
#
# The Debian mirror is read from $PBUILD_DEBIAN_MIRROR, else from the host's
# apt sources (deb822 .sources files or sources.list). No mirror host name is
# written in this repository.
set -eu

image=${1:-pbuild/base:bookworm}
suite=${PBUILD_DEBIAN_SUITE:-bookworm}
packages=gcc,libc6-dev,ca-certificates

# The image goes into the engine: find out that it answers before the
# minutes debootstrap takes.
if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
	echo "mkbase: no Docker engine answers${DOCKER_HOST:+ at $DOCKER_HOST}: start one (dockerd) or set DOCKER_HOST" >&2
	exit 1
fi

mirror_from_apt() {
	# deb822: the first URIs of a stanza whose Suites names $suite exactly.
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk -v suite="$suite" '
			/^[[:space:]]*$/ { if (uri != "" && ok) { print uri; exit } uri=""; ok=0; next }
			/^URIs:/   { uri=$2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok=1 }
			END        { if (uri != "" && ok) print uri }
		' "$f" | head -n 1
	done
	# one-line format: deb [options] URI SUITE COMPONENTS...
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		sed -e 's/\[[^]]*\]//' "$f" | awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }'
	done
}

mirror=${PBUILD_DEBIAN_MIRROR:-$(mirror_from_apt | head -n 1)}
if [ -z "$mirror" ]; then
	echo "mkbase: no Debian mirror for $suite in the apt sources; set PBUILD_DEBIAN_MIRROR" >&2
	exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
	echo "mkbase: debootstrap is not installed (apt-get install debootstrap)" >&2
	exit 1
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/pbuild-base.XXXXXX")
trap 'rm -rf "$root"' EXIT INT TERM

echo "mkbase: debootstrap $suite ($packages)" >&2
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$root.log" 2>&1 || {
	tail -n 30 "$root.log" >&2
	rm -f "$root.log"
	exit 1
}
rm -f "$root.log"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb

echo "mkbase: docker import $image" >&2
tar --numeric-owner -C "$root" -c . | docker import \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'LABEL org.pbuild.base=debootstrap' \
	--change "LABEL org.pbuild.suite=$suite" \
	- "$image" >/dev/null
docker image inspect --format '{{.Id}}' "$image"
