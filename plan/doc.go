// Package plan is what one build makes, decided before anything runs: the
// targets (each a typed artifact with its kind, package, platform and
// output file), the settings every target shares, and the facts that
// follow from them (go command lines, compile phases, environments,
// cache names). A pin (a rebuild from a manifest, a plugin build against a
// released host) changes the plan's settings, never the config.
//
// A kind of artifact is decided here and nowhere else: its build mode,
// whether a host loads it, where its file goes.
package plan
