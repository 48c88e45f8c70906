package broker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"orders", true},
		{"orders.v2_eu-west", true},
		{"0", true},
		{strings.Repeat("a", MaxNameLength), true},
		{"", false},
		{".", false},
		{"..", false},
		{"../x", false},
		{"a/b", false},
		{`a\b`, false},
		{"/abs", false},
		{".hidden", false},
		{"-dash", false},
		{"_under", false},
		{"tab\there", false},
		{"nul\x00", false},
		{"new\nline", false},
		{"bell\a", false},
		{"space here", false},
		{"ünïcode", false},
		{"a:b", false},
		{strings.Repeat("a", MaxNameLength+1), false},
		{strings.Repeat("a", 400), false},
	}
	for _, tt := range tests {
		err := ValidateName("name", tt.name)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != "name" || !errors.Is(err, ErrInvalid) {
				t.Errorf("ValidateName(%q) = %#v, want a *FieldError for field name matching ErrInvalid", tt.name, err)
			}
		}
	}
}

func TestUnsafeNamesReachNothingOnDisk(t *testing.T) {
	e := newEnv(t)
	e.createTopic("ok", TopicConfig{})
	outside := filepath.Dir(e.dir)
	before := listDir(t, outside)
	bad := []string{"../escape", "..", ".", "a/b", "/tmp/abs", "x\x00y", strings.Repeat("z", 400)}
	ctx := context.Background()
	for _, name := range bad {
		if _, err := e.b.CreateTopic(ctx, name, TopicConfig{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateTopic(%q) = %v, want ErrInvalid", name, err)
		}
		if _, err := e.b.CreateSubscription(ctx, "ok", name, SubscriptionConfig{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateSubscription(%q) = %v, want ErrInvalid", name, err)
		}
		if _, err := e.b.Publish(ctx, name, nil); !errors.Is(err, ErrInvalid) {
			t.Errorf("Publish(%q) = %v, want ErrInvalid", name, err)
		}
		if err := e.b.DeleteTopic(ctx, name); !errors.Is(err, ErrInvalid) {
			t.Errorf("DeleteTopic(%q) = %v, want ErrInvalid", name, err)
		}
	}
	if after := listDir(t, outside); strings.Join(before, ",") != strings.Join(after, ",") {
		t.Errorf("entries next to the data directory changed: %v -> %v", before, after)
	}
	entries, err := os.ReadDir(filepath.Join(e.dir, topicsDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	// "ok" and the dead-letter topics nothing created: only "ok".
	if strings.Join(names, ",") != "ok" {
		t.Errorf("topics directory holds %v, want only ok", names)
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}
