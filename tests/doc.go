// Package tests holds pbuild's end-to-end tests: testscript scripts
// (testdata/*.txtar) that run the real pbuild binary against the real Docker
// engine, build examples/greeter, load its plugins, and check that builds are
// byte-for-byte reproducible and that bad input fails cleanly.
//
// Without a reachable engine the scripts are skipped with a message, except
// under CI (CI=true), where that is a failure.
package tests
