package aha

import (
	"fmt"
	"html"
	"strings"
)

// MoveIdeaUserToOrganization makes orgID the idea user's only organization (a
// customer changing company), audited as one idea user update whose change
// names the old and new organizations.
func (s *Server) MoveIdeaUserToOrganization(userID, orgID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, o := s.st.ideaUsers.get(userID), s.st.orgs.get(orgID)
	if u == nil || o == nil || u.kind != kindIdeaUser {
		return fmt.Errorf("%w: idea user %s or organization %s", ErrNotFound, userID, orgID)
	}
	if len(u.orgIDs) == 1 && u.orgIDs[0] == o.id {
		return nil
	}
	old := s.orgNamesLocked(u)
	u.orgIDs = nil
	u.doc["idea_organizations"] = []any{}
	s.linkOrg(u, o)
	u.updated = s.st.now()
	s.auditRecord("update", u, []change{{"Idea organizations", textChange(html.EscapeString(old), html.EscapeString(o.doc["name"].(string)))}}, nil, "idea user")
	return nil
}

// UnlinkIdeaUserFromOrganization removes one organization from an idea user.
func (s *Server) UnlinkIdeaUserFromOrganization(userID, orgID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.ideaUsers.get(userID)
	if u == nil || u.kind != kindIdeaUser {
		return fmt.Errorf("%w: idea user %s", ErrNotFound, userID)
	}
	if !contains(u.orgIDs, orgID) {
		return nil
	}
	old := s.orgNamesLocked(u)
	ids := u.orgIDs
	u.orgIDs = nil
	u.doc["idea_organizations"] = []any{}
	for _, id := range ids {
		if id == orgID {
			continue
		}
		if o := s.st.orgs.get(id); o != nil {
			s.linkOrg(u, o)
		}
	}
	u.updated = s.st.now()
	s.auditRecord("update", u, []change{{"Idea organizations", textChange(html.EscapeString(old), html.EscapeString(s.orgNamesLocked(u)))}}, nil, "idea user")
	return nil
}

func (s *Server) orgNamesLocked(u *record) string {
	var names []string
	for _, id := range u.orgIDs {
		if o := s.st.orgs.get(id); o != nil {
			n, _ := o.doc["name"].(string)
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

// OrganizationIDs returns the idea organization ids, oldest first.
func (s *Server) OrganizationIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.st.orgs.list))
	for _, o := range s.st.orgs.list {
		out = append(out, o.id)
	}
	return out
}

// IdeaUserOrganizationIDs returns the organization ids an idea user belongs to.
func (s *Server) IdeaUserOrganizationIDs(userID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.st.ideaUsers.get(userID)
	if u == nil {
		return nil
	}
	return append([]string(nil), u.orgIDs...)
}

// IdeaUserEmail returns an idea user's email ("" when unknown).
func (s *Server) IdeaUserEmail(userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.st.ideaUsers.get(userID); u != nil {
		return u.email
	}
	return ""
}

// IdeaUserIDs returns every idea user id, oldest first.
func (s *Server) IdeaUserIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.st.ideaUsers.list))
	for _, u := range s.st.ideaUsers.list {
		out = append(out, u.id)
	}
	return out
}
