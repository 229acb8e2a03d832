// Package builder runs a pbuild build as a short sequence of typed steps,
// one file each: plan (the config's targets, a pin applied, the workspace
// discovered, the output placed), toolchain (the pinned toolchain image),
// stage (a copy of the user's modules and the digest of every input),
// up-to-date (nothing changed: nothing runs), resolve (one build list,
// vendored), compile (every artifact, without network), inspect (what came
// out), check (every plugin against the host and each other), and install
// (the manifest rendered from the plan and the inspection, the output
// swapped into place).
//
// The resolve and compile steps run on a Backend (the Docker engine or
// BuildKit); everything else is the same whatever the backend. The steps
// report progress through Options.OnEvent; nothing here prints.
package builder
