# The pbuild toolchain image: the configured base image plus one Go toolchain,
# fetched by pbuild as the module golang.org/toolchain and verified against
# its checksum before it gets here. pbuild streams this file as "Dockerfile"
# with the toolchain tree as "go/" in the build context.
ARG BASE
FROM ${BASE}
COPY go /usr/local/go
ENV PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    GOTOOLCHAIN=local \
    GOTELEMETRY=off \
    GOPATH=/go \
    GOMODCACHE=/go/pkg/mod \
    GOCACHE=/root/.cache/go-build
