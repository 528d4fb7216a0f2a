package aha

import (
	"net/url"
	"strings"
)

// childTypes are the auditable types that change a record without being one:
// a description edit is audited on the record's note, a vote on an
// endorsement, a comment on the comment (aha.md §1). Their parent is the
// record to sync.
var childTypes = map[string]bool{
	"note": true, "comment": true, "ideas/idea_comment": true, "ideas/idea_endorsement": true,
}

// IsChildType reports whether audits of this (webhook-form) type change a
// parent record rather than being one.
func IsChildType(auditableType string) bool { return childTypes[NormalizeAuditableType(auditableType)] }

// AuditParent names the record a child audit (note, comment, endorsement)
// changed: its kind (idea or feature) and numeric id when the audit carries
// associated_type/associated_id (the REST audits do), else its reference
// from auditable_url, which points at the owning record
// (https://x.aha.io/ideas/ideas/PRJ1-I-2, https://x.aha.io/features/PRJ1-28).
// ok is false when the audit names neither.
func AuditParent(a *Audit) (kind, id, ref string, ok bool) {
	switch NormalizeAuditableType(a.AssociatedType) {
	case "ideas/idea":
		kind = KindIdea
	case "feature":
		kind = KindFeature
	}
	if kind != "" && ValidID(a.AssociatedID.String()) {
		return kind, a.AssociatedID.String(), "", true
	}
	u, err := url.Parse(a.AuditableURL)
	if err != nil || a.AuditableURL == "" {
		return "", "", "", false
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	n := len(parts)
	switch {
	case n >= 3 && parts[n-3] == "ideas" && parts[n-2] == "ideas":
		kind = KindIdea
	case n >= 2 && parts[n-2] == "features":
		kind = KindFeature
	default:
		return "", "", "", false
	}
	if ref = parts[n-1]; !ValidReference(ref) {
		return "", "", "", false
	}
	return kind, "", ref, true
}
