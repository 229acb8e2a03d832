package container

import (
	"context"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/pbuild/pbuild/internal/owner"
)

func TestSweepRemovesOnlyDeadOwners(t *testing.T) {
	self, err := owner.Self()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := owner.ID{Machine: self.Machine, PID: cmd.Process.Pid, Start: 1}
	other := owner.ID{Machine: "000000000000", PID: 1, Start: 1}
	eng := &fakeEngine{list: []Summary{
		{ID: "dead", Labels: map[string]string{Label: "1", OwnerLabel: dead.String()}},
		{ID: "live", Labels: map[string]string{Label: "1", OwnerLabel: self.String()}},
		{ID: "elsewhere", Labels: map[string]string{Label: "1", OwnerLabel: other.String()}},
		{ID: "old", Labels: map[string]string{Label: "1"}},
	}}
	removed, err := Sweep(context.Background(), eng, self)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range removed {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, []string{"dead"}) || eng.log() != "remove dead" {
		t.Fatalf("removed %v (calls: %s), want only the dead owner's", ids, eng.log())
	}
	if !strings.Contains(Labels(Spec{Step: "build", Owner: self.String()})[OwnerLabel], self.Machine) {
		t.Error("the owner label is not set")
	}
}
