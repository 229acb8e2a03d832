// Package dockerengine implements pbuild's container and image interfaces on
// Docker's Go client. The client negotiates the API version with the engine
// and is configured from DOCKER_HOST and friends by the caller (cmd/pbuild),
// which reads the environment once.
//
// Work moves in and out of containers as tar streams (CopyTo, CopyFrom), never
// through bind mounts, so a remote engine behind DOCKER_HOST works too.
package dockerengine
