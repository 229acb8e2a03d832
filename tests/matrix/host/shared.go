//go:build !minhost

package main

import (
	"errors"
	"runtime/debug"

	"example.com/matrix/api"
	"example.com/matrix/api/cnum"
	"example.com/matrix/api/cshared"
	"golang.org/x/sync/errgroup"
)

// useShared uses the packages the host shares with the plugins.
func useShared() error {
	var g errgroup.Group
	g.Go(func() error {
		if cnum.Twice(api.Answer) != 2*api.Answer || cshared.Shared() != 5 {
			return errors.New("cnum or cshared is broken")
		}
		return nil
	})
	g.Go(func() error {
		if _, ok := debug.ReadBuildInfo(); !ok {
			return errors.New("no build info")
		}
		return nil
	})
	return g.Wait()
}
