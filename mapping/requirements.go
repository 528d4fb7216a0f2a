package mapping

import (
	"regexp"
	"sort"
	"strings"
)

// What the config needs to exist in Aha!: the custom fields it reads or
// writes, the workflow statuses it names and the workspaces its macros
// write to. starter centercode-setup lists them; starter doctor checks them.

// AhaCustomField is a custom field key the config reads or writes on a kind
// of Aha! record (idea, feature, epic, requirement, idea_user).
type AhaCustomField struct {
	Key, Kind string
	Where     string // the config path that reads or writes it
}

var customFieldRead = regexp.MustCompile(`(^|[^.\w])\$\.custom_fields\[\?\(@\.key\s*==\s*'([^']+)'\)\]`)

// AhaCustomFields lists the custom fields the config reads (element paths
// $.custom_fields[?(@.key == 'x')]) or writes (macro elements
// custom_fields.x), sorted by kind and key.
func (c *Config) AhaCustomFields() []AhaCustomField {
	seen := map[string]AhaCustomField{}
	add := func(key, kind, where string) {
		id := kind + "/" + key
		if _, ok := seen[id]; !ok {
			seen[id] = AhaCustomField{Key: key, Kind: kind, Where: where}
		}
	}
	read := func(m *Mapper, kinds []string, where string) {
		for _, el := range m.ElementSpecs() {
			for _, mm := range customFieldRead.FindAllStringSubmatch(el.Paths, -1) {
				for _, k := range kinds {
					add(mm[2], k, where+".elements."+el.Name)
				}
			}
		}
	}
	for _, n := range c.FeedbackTypeNames() {
		ft := c.FeedbackType(n)
		read(ft.Mapper, ft.RecordTypes, "feedback_types."+n)
	}
	if c.UserData != nil {
		read(c.UserData.Mapper, []string{KindIdeaUser}, "user_data")
	}
	for _, n := range sortedKeys(c.Macros) {
		m := c.Macros[n]
		kind := map[string]string{ActionCreateIdea: KindIdea, ActionCreateFeature: KindFeature}[m.Action]
		for _, el := range m.ElementSpecs() {
			if k, ok := strings.CutPrefix(el.Target, "custom_fields."); ok && kind != "" {
				add(k, kind, "macros."+n+".elements."+el.Name)
			}
		}
	}
	out := make([]AhaCustomField, 0, len(seen))
	for _, f := range seen {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// AhaStatuses lists the Aha! workflow statuses the config names:
// status_rules.from_aha and the choices of set_status macros'
// workflow_status, sorted.
func (c *Config) AhaStatuses() []string {
	seen := map[string]bool{}
	for _, s := range c.StatusRules.FromAhaStatuses() {
		seen[s] = true
	}
	for _, n := range sortedKeys(c.Macros) {
		m := c.Macros[n]
		if m.Action != ActionSetStatus {
			continue
		}
		for _, el := range m.ElementSpecs() {
			if el.Target == "workflow_status" {
				for _, o := range el.Options {
					seen[o] = true
				}
			}
		}
	}
	return sortedKeys(seen)
}

// MacroWorkspaces lists the workspaces create macros write to: a
// create_idea macro's product, a create_feature macro's release's product
// (the prefix of a reference such as PRJ1-R-1), sorted.
func (c *Config) MacroWorkspaces() []string {
	seen := map[string]bool{}
	for _, m := range c.Macros {
		switch m.Action {
		case ActionCreateIdea:
			seen[m.Product] = true
		case ActionCreateFeature:
			if p, _, ok := strings.Cut(m.Release, "-"); ok {
				seen[p] = true
			}
		}
	}
	delete(seen, "")
	return sortedKeys(seen)
}
