package account

import (
	"regexp"

	"github.com/runnel/runnel/stream"
)

// A team id is generated ("team_" and 16 characters) or chosen when the
// team is created: a slug such as "acme-corp" (seed 004 names its team so),
// lower-case letters, digits and inner hyphens, 2 to 64 characters. The two
// forms cannot collide: a slug has no underscore.
var slugPattern = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])$`)

// ValidTeamID reports whether id has the form of a team id, generated or
// chosen.
func ValidTeamID(id string) bool { return ValidID("team", id) || slugPattern.MatchString(id) }

// checkSlug refuses a chosen team id that is not a slug, as a 400 naming
// the id field.
func checkSlug(id string) *stream.Error {
	if !slugPattern.MatchString(id) {
		return stream.InvalidParam("id", "team id %q must be a slug: 2 to 64 lower-case letters, digits and inner hyphens, like acme-corp", clip(id))
	}
	return nil
}
