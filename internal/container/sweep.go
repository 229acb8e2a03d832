package container

import (
	"context"
	"errors"
	"fmt"

	"github.com/pbuild/pbuild/internal/owner"
)

// Lister lists and removes containers; an Engine is one.
type Lister interface {
	List(ctx context.Context) ([]Summary, error)
	Remove(ctx context.Context, id string) error
}

// Owned is a pbuild container with what self can tell of its owner.
type Owned struct {
	Summary
	Owner owner.ID // zero when the container carries no owner label
	State owner.State
}

// Classify lists pbuild's containers with the state of the process that
// started each. A container without an owner label (made by an older
// pbuild) is Unknown.
func Classify(ctx context.Context, eng Lister, self owner.ID) ([]Owned, error) {
	list, err := eng.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Owned, 0, len(list))
	for _, c := range list {
		o := Owned{Summary: c, State: owner.Unknown}
		if id, err := owner.Parse(c.Labels[OwnerLabel]); err == nil {
			o.Owner, o.State = id, self.Judge(id)
		}
		out = append(out, o)
	}
	return out, nil
}

// Sweep removes the containers that pbuild processes on this machine
// started and that are dead now (killed before they could clean up), and
// returns them. Containers of live processes, of other machines, and of
// unknown owners are left alone.
func Sweep(ctx context.Context, eng Lister, self owner.ID) ([]Owned, error) {
	all, err := Classify(ctx, eng, self)
	if err != nil {
		return nil, err
	}
	var removed []Owned
	var errs []error
	for _, c := range all {
		if c.State != owner.Dead {
			continue
		}
		if err := eng.Remove(ctx, c.ID); err != nil {
			errs = append(errs, fmt.Errorf("remove container %s: %w", c.ID, err))
			continue
		}
		removed = append(removed, c)
	}
	return removed, errors.Join(errs...)
}
