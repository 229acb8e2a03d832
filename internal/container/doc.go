// Package container holds the small, engine-neutral vocabulary pbuild uses to
// run work in containers: what to start (Spec), what to run in it (Exec), and
// Use, which guarantees that every container pbuild starts is labelled and
// removed again, also when the build fails or is interrupted.
//
// The interface an engine must satisfy (Engine) is declared here, where Use
// consumes it; internal/dockerengine implements it with Docker's Go client and
// tests implement it with fakes.
package container
