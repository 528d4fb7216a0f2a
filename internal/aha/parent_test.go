package aha

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAuditParent(t *testing.T) {
	tests := []struct {
		name          string
		a             Audit
		kind, id, ref string
		ok            bool
	}{
		{"REST note: associated idea", Audit{AuditableType: "Note", AssociatedType: "Ideas::Idea", AssociatedID: "6776", AuditableURL: "https://x.aha.io/ideas/ideas/PRJ1-I-2"}, KindIdea, "6776", "", true},
		{"webhook note on an idea: its URL", Audit{AuditableType: "note", AuditableURL: "https://x.aha.io/ideas/ideas/PRJ1-I-2"}, KindIdea, "", "PRJ1-I-2", true},
		{"note on a feature", Audit{AuditableType: "note", AuditableURL: "https://x.aha.io/features/DEMO-28"}, KindFeature, "", "DEMO-28", true},
		{"endorsement", Audit{AuditableType: "ideas/idea_endorsement", AuditableURL: "https://x.aha.io/ideas/ideas/PRJ1-I-9"}, KindIdea, "", "PRJ1-I-9", true},
		{"associated feature", Audit{AssociatedType: "Feature", AssociatedID: "77"}, KindFeature, "77", "", true},
		{"unknown parent URL", Audit{AuditableType: "note", AuditableURL: "https://x.aha.io/epics/PRJ1-E-1"}, "", "", "", false},
		{"bad reference", Audit{AuditableType: "note", AuditableURL: "https://x.aha.io/features/../../x"}, "", "", "", false},
		{"nothing", Audit{AuditableType: "note"}, "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, id, ref, ok := AuditParent(&tt.a)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.kind, kind)
			assert.Equal(t, tt.id, id)
			assert.Equal(t, tt.ref, ref)
		})
	}
	assert.True(t, IsChildType("Note"))
	assert.True(t, IsChildType("Ideas::IdeaEndorsement"))
	assert.False(t, IsChildType("ideas/idea"))
}
