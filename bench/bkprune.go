package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/moby/buildkit/client"

	"github.com/pbuild/pbuild/internal/buildkitengine"
)

// goBuildCacheReset is the -buildkit-reset value that empties, in the
// Docker engine's BuildKit, only pbuild's Go build cache mount and the
// results of earlier Runs, and keeps its module cache mount: a cold build
// then downloads no modules, as native's and the Docker backend's cold
// builds download none (their module caches stay warm too).
const goBuildCacheReset = "go-build-cache"

// pruneGoBuildCache empties the engine's BuildKit cache but for the
// module cache mount.
func pruneGoBuildCache(ctx context.Context) (int, error) {
	c, err := buildkitengine.Dial(ctx, buildkitengine.DockerAddr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	// A record still referenced by another is kept by a prune; rounds
	// until nothing more goes.
	pruned := 0
	for round := 0; round < 5; round++ {
		records, err := c.DiskUsage(ctx)
		if err != nil {
			return pruned, fmt.Errorf("buildkit disk usage: %w", err)
		}
		var filters []string // any of them
		for _, r := range records {
			if r.RecordType == client.UsageRecordTypeCacheMount && strings.Contains(r.Description, "cached mount "+buildkitengine.GoModCacheDir+" ") {
				continue
			}
			filters = append(filters, "id=="+r.ID)
		}
		if len(filters) == 0 {
			break
		}
		n := 0
		ch := make(chan client.UsageInfo)
		done := make(chan struct{})
		go func() {
			for range ch {
				n++
			}
			close(done)
		}()
		err = c.Prune(ctx, ch, client.PruneAll, client.WithFilter(filters))
		close(ch)
		<-done
		if err != nil {
			return pruned, fmt.Errorf("buildkit prune: %w", err)
		}
		pruned += n
		if n == 0 {
			break
		}
	}
	return pruned, nil
}
