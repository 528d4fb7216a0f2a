package aha

import (
	"net/http"
	"sort"
	"strings"
)

// customFieldDef is a custom field definition of the account
// (GET /api/v1/custom_field_definitions): a key on one record type.
type customFieldDef struct {
	id, key, name, typ, fieldable string
}

// Record types of custom field definitions (custom_fieldable_type).
const (
	fieldableIdea     = "Ideas::Idea"
	fieldableFeature  = "Feature"
	fieldableIdeaUser = "Ideas::IdeaUser"
	fieldableOrg      = "Ideas::IdeaOrganization"
)

// DefaultCustomFields are the custom fields the simulator's account defines:
// the fixtures' own and those examples/ahacc.yaml reads or writes. Aha!
// refuses a value for a key no definition names; so does the simulator.
var DefaultCustomFields = []struct{ Key, Name, Type, Fieldable string }{
	{"severity", "Severity", "CustomFieldDefinitions::SelectConstant", fieldableIdea},
	{"component", "Component", "CustomFieldDefinitions::TextField", fieldableIdea},
	{"centercode_feedback_id", "Centercode feedback", "CustomFieldDefinitions::TextField", fieldableIdea},
	{"text_field1", "Text field 1", "CustomFieldDefinitions::TextField", fieldableIdea},
	{"text_field2", "Text field 2", "CustomFieldDefinitions::TextField", fieldableIdea},
	{"centercode_feedback_id", "Centercode feedback", "CustomFieldDefinitions::TextField", fieldableFeature},
	{"expected_completion_date", "Expected completion", "CustomFieldDefinitions::DateField", fieldableFeature},
	{"upload", "Upload", "CustomFieldDefinitions::Attachment", fieldableFeature},
	{"title", "Title", "CustomFieldDefinitions::TextField", fieldableIdeaUser},
	{"text_field", "Text field", "CustomFieldDefinitions::TextField", fieldableIdeaUser},
	{"favourite_colour", "Favourite colour", "CustomFieldDefinitions::TextField", fieldableIdeaUser},
}

// fieldableOf is the custom_fieldable_type of a record kind.
func fieldableOf(kind string) string {
	switch kind {
	case kindIdea:
		return fieldableIdea
	case kindFeature:
		return fieldableFeature
	case kindIdeaUser:
		return fieldableIdeaUser
	case kindOrg:
		return fieldableOrg
	}
	return ""
}

// undefinedCustomField names the first key of in that no definition of the
// kind has ("" when all are defined). Call with s.mu held.
func (s *Server) undefinedCustomField(kind string, in map[string]any) string {
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !s.st.customFieldDefined(fieldableOf(kind), k) {
			return k
		}
	}
	return ""
}

func (st *state) customFieldDefined(fieldable, key string) bool {
	for _, d := range st.customFields {
		if d.fieldable == fieldable && d.key == key {
			return true
		}
	}
	return false
}

// GET /api/v1/me: the user the API key belongs to, with its workspace roles.
func (s *Server) getMe(w http.ResponseWriter, r *http.Request) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.apiUser()
	roles := []any{}
	for _, p := range s.st.products {
		roles = append(roles, map[string]any{"role": 20, "role_description": "Owner", "product_id": p.id, "product_name": p.name})
	}
	u["product_roles"] = roles
	u["accounts"] = []any{map[string]any{"account": map[string]any{"name": s.opts.Company, "domain": s.opts.Company, "enabled": true}}}
	return http.StatusOK, map[string]any{"user": u}
}

// productAt is the product a path names (by id or prefix), or the 404 to answer.
// Call with s.mu held.
func (s *Server) productAt(r *http.Request, param string) (*product, int, any) {
	p := s.st.productByKey[strings.ToUpper(r.PathValue(param))]
	if p == nil {
		return nil, http.StatusNotFound, errorBody("Product " + r.PathValue(param) + " not found")
	}
	return p, 0, nil
}

// GET /api/v1/products/{id}
func (s *Server) getProduct(w http.ResponseWriter, r *http.Request) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, code, body := s.productAt(r, "id")
	if p == nil {
		return code, body
	}
	return http.StatusOK, map[string]any{"product": s.productJSON(p)}
}

// GET /api/v1/products/{product_id}/workflows: the idea and feature workflows.
func (s *Server) listWorkflows(w http.ResponseWriter, r *http.Request) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, code, body := s.productAt(r, "product_id")
	if p == nil {
		return code, body
	}
	wf := func(id, name, typ string, sts []status) map[string]any {
		out := []any{}
		for _, st := range sts {
			out = append(out, st.json())
		}
		return map[string]any{"id": id, "name": name, "statusable_type": typ, "transitions_only": false, "workflow_statuses": out}
	}
	return http.StatusOK, map[string]any{"workflows": []any{
		wf("80245244", p.name+" idea workflow", "Idea", s.st.ideaStatuses),
		wf("80245245", p.name+" feature workflow", "Feature", s.st.featureStatuses),
	}}
}

// GET /api/v1/custom_field_definitions
func (s *Server) listCustomFieldDefinitions(w http.ResponseWriter, r *http.Request) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []any{}
	for _, d := range s.st.customFields {
		out = append(out, map[string]any{"name": d.name, "id": d.id, "key": d.key, "type": d.typ, "custom_fieldable_type": d.fieldable, "internal_name": nil})
	}
	return http.StatusOK, map[string]any{"custom_field_definitions": out}
}
