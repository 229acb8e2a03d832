// Package config loads and validates pbuild.yaml, the configuration file
// that describes a Go plugin host, its plugins and the pinned Go toolchain
// they are built with.
//
// A minimal file looks like this:
//
//	version: 1
//	toolchain:
//	  go: 1.24.4
//	host: { name: greeter, path: ./host }
//	plugins:
//	  - { name: hello, path: ./plugins/hello }
//
// The top-level fields are:
//
//   - version: the config format version; must be [Version].
//   - toolchain: the Go release to build with ("go", an exact release such as
//     1.24.4 or 1.25rc1, at least 1.22), the base image ("base", default
//     [DefaultBase]) and optionally the expected h1 hash of the toolchain
//     module zip ("sum").
//   - host: the plugin host, a main package, given by "name" and "path".
//   - plugins: the plugins, each given by "name" and "path"; may be empty.
//   - build: build tags ("tags"), linker flags ("ldflags") and extra
//     environment variables ("env") used for the host and every plugin.
//   - output: the directory the artifacts are written to (default
//     [DefaultOutput]). pbuild replaces it wholesale on every build, so it
//     must not be, contain or lie inside the config file's directory or any
//     artifact's directory (it may lie inside the config directory).
//
// Relative paths are relative to the directory holding the config file.
//
// Decoding is strict: yaml.v3 decodes the file into a [Config] with
// KnownFields, and unknown fields, duplicate keys, values of the wrong type,
// keys that are not plain scalars, merge keys (<<), aliases of mappings or
// lists, and documents other than a single YAML mapping are errors. Every
// problem with the file's content is reported as an [*Error] naming the
// file, the line and the offending field. Only the first problem is
// reported: a mapping of over 1000 keys or over 100 aliases of mappings or
// lists (which would make decoding slow) first, then the version, then the
// file from top to bottom (a duplicate key, as yaml.v3 finds it, before
// anything in its mapping), and finally the checks that need the whole file
// (missing sections and the placement of the output directory).
package config
