package broker

import (
	"fmt"
	"regexp"
)

// MaxNameLength bounds topic and subscription names. Like Kafka's 249, it
// leaves room in a 255-byte file name for the suffixes Herald adds.
const MaxNameLength = 249

// nameRE is the whole character set of topic and subscription names. Names
// become directory names, so the set excludes every separator and starts
// with a letter or digit: "." and ".." and hidden names cannot be expressed,
// and nothing can reach outside the data directory.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]*$`)

// ValidateName checks a topic or subscription name; field names it in the
// error ("name", "deadLetterTopic").
func ValidateName(field, name string) error {
	switch {
	case name == "":
		return fieldErr(field, "must not be empty")
	case len(name) > MaxNameLength:
		return fieldErr(field, "%d characters, the limit is %d", len(name), MaxNameLength)
	case !nameRE.MatchString(name):
		return fieldErr(field, "%s: use letters, digits, '.', '_' and '-', starting with a letter or digit", quoteName(name))
	}
	return nil
}

// quoteName quotes a name for an error message without echoing a huge or
// control-laden input back verbatim.
func quoteName(name string) string {
	if len(name) > 64 {
		name = name[:64] + "..."
	}
	return fmt.Sprintf("%q", name)
}
