# A pbuild toolchain image with Debian packages added: the C cross compilers
# of the platforms a build targets, and the packages the config pins
# (toolchain.packages), from the Debian mirror the base image was made from.
# /etc/pbuild/packages lists every package added, NAME=VERSION, and
# /etc/pbuild/cross each cross compiler ("linux/arm64 aarch64-linux-gnu-gcc"):
# pbuild reads both and records them in the manifest.
ARG TOOLCHAIN
FROM ${TOOLCHAIN}
ARG PACKAGES
ARG CROSS
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${PACKAGES} >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb /var/log/apt /var/log/dpkg.log \
 && mkdir -p /etc/pbuild \
 && for p in ${PACKAGES}; do dpkg-query -W -f '${Package}=${Version}\n' "${p%%=*}"; done | sort > /etc/pbuild/packages \
 && for c in ${CROSS}; do echo "${c%%=*} ${c#*=}"; done > /etc/pbuild/cross
