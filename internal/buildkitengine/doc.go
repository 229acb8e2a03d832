// Package buildkitengine runs pbuild's build as BuildKit LLB: the toolchain
// root, the resolve step (network allowed, a persistent module cache), and one
// compile Run per artifact (no network, a shared Go build cache), exported with
// the local exporter.
//
// The compile Runs start in two phases, as the Docker backend's compiles do
// (CompileSpec.First): the later Runs wait for an empty stamp directory each
// earlier Run leaves, so they find the standard library built for their mode
// in the shared cache, while their cache keys, taken from the stamps' content,
// do not depend on the earlier artifacts. Each Run mounts only the parts of
// the source its artifact is built from (Artifact.Inputs), so that an edit to
// one plugin leaves the other Runs cache hits.
//
// It talks to BuildKit either inside a Docker engine, through the engine's
// /grpc (h2c) and /session hijack endpoints the way buildx's docker driver
// does, or to a buildkitd of its own (unix://, tcp:// with mutual TLS,
// docker-container://NAME). The library reads no environment variables: the
// caller resolves BUILDKIT_HOST, DOCKER_HOST and BUILDKIT_PROGRESS and passes
// what it found.
//
// A daemon outside the Docker engine has no registry and an empty store. The
// toolchain image reaches it as an OCI image layout written from the Docker
// engine's image export once per image (OCILayout, cached on disk by image
// ID) and offered through the session's content store (ToolchainOCI): the
// daemon addresses it by manifest digest, pulls the layers the first time and
// later finds them in its own store, so it travels once. (The alternative, the
// root filesystem exported from a container and sent as a local context, was
// measured against buildkitd v0.26.0: the whole tree, 570 MB, about 20 s,
// went again with every Solve.)
//
// BuildKit does not apply an image's ENV to the Runs of an LLB graph built
// without an image metadata resolver, so every Run sets its environment
// explicitly (Toolchain.Env, then the Run's own).
//
// The Docker 20.10 engine embeds an old BuildKit: no MergeOp (the artifacts
// are gathered with file copies into one scratch state), no OCI layout source
// (it has the image anyway: ToolchainImage), no Info (Dial checks a daemon
// with ListWorkers).
//
// With many Runs sharing an input, the BuildKit of Docker 20.10 (before
// v0.9) can fail a Solve with "flightcontrol: exceeded retry timeout" while
// it computes their cache keys; Transient tells such a failure, which
// another Solve gets past.
//
// BuildKit empties a cache mount used by a Run solved with ignore-cache, so
// CompileSpec.NoCache also discards the Go build cache.
package buildkitengine
