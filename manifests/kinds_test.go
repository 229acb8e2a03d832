package manifests_test

import (
	"slices"
	"testing"

	"github.com/pbuild/pbuild/manifests"
	"github.com/pbuild/pbuild/plan"
)

// TestKindsArePlanKinds: the manifest records the plan's kinds, and the
// C-ABI ones are the plan's.
func TestKindsArePlanKinds(t *testing.T) {
	var want []string
	for _, k := range plan.Kinds() {
		want = append(want, string(k))
		if manifests.IsCABI(string(k)) != k.CABI() {
			t.Errorf("kind %s: IsCABI %v, plan says %v", k, manifests.IsCABI(string(k)), k.CABI())
		}
	}
	if got := manifests.Kinds(); !slices.Equal(got, want) {
		t.Errorf("Kinds() = %q, plan.Kinds() = %q", got, want)
	}
}
