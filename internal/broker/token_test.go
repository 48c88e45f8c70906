package broker

import "testing"

// FuzzParseToken: any text a client sends as a token is refused with an
// error or parsed to a lease whose own token parses to the same lease.
func FuzzParseToken(f *testing.F) {
	for _, s := range []string{formatToken(0, 0, 1), formatToken(3, 1234567, 99), formatToken(4095, 1<<63-1, 1<<64-1),
		"", "-", "1--1", "a-b-c", "1-2-0", "-1-2-3", "1-2-3-4", "99999999999-1-1", "+1-2-3", "1-2-zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, off, id, err := parseToken(s)
		if err != nil {
			return
		}
		again := formatToken(p, off, id)
		p2, off2, id2, err := parseToken(again)
		if err != nil || p2 != p || off2 != off || id2 != id {
			t.Fatalf("%q parsed to %d, %d, %d, whose token %q parsed to %d, %d, %d, %v", s, p, off, id, again, p2, off2, id2, err)
		}
	})
}
