package state

import (
	"slices"
	"time"
)

// ownerTTL is how long an owner is remembered: Gemini deletes files after
// 48 hours, and cached contents live an hour unless told otherwise.
const ownerTTL = 48 * time.Hour

// maxOwners bounds the owners kept; the oldest go first.
const maxOwners = 2000

// Owner says which project created a resource.
type Owner struct {
	Resource string    `json:"resource"` // "files/abc", "cachedContents/xyz", "uploads/ID"
	Project  string    `json:"project"`
	At       time.Time `json:"at"`
}

// OwnerOf returns the project that created resource, if known.
func (s *State) OwnerOf(resource string) (project string, ok bool) {
	i := slices.IndexFunc(s.Owners, func(o Owner) bool { return o.Resource == resource })
	if i < 0 {
		return "", false
	}
	return s.Owners[i].Project, true
}

// SetOwners records project as the owner of names at now, dropping owners
// older than ownerTTL and the oldest beyond maxOwners.
func (s *State) SetOwners(names []string, project string, now time.Time) {
	s.Owners = slices.DeleteFunc(s.Owners, func(o Owner) bool {
		return now.Sub(o.At) > ownerTTL || slices.Contains(names, o.Resource)
	})
	for _, n := range names {
		s.Owners = append(s.Owners, Owner{Resource: n, Project: project, At: now})
	}
	if extra := len(s.Owners) - maxOwners; extra > 0 {
		s.Owners = slices.Delete(s.Owners, 0, extra)
	}
}
