package mapping

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Routing by content. Several feedback types may be fed by one record kind
// (bugs and feature requests both from ideas); each may declare when: — a
// JSONPath into the hydrated record (a category, a tag, a custom field).
// A record goes to exactly one: the first of them, in the config's order,
// whose when: yields a value (not null, "", false, [] or {}); one without
// when: takes whatever the ones before it did not, and so must come last.
// No match: the record feeds no feedback type (nothing is created). The type
// chosen when the feedback is created stays with the record: a later change
// that would route it elsewhere updates the same feedback (moving feedback
// between types is Centercode's to do).

// ContentRouted reports whether the feedback types fed by kind choose by
// content (one has when:).
func (c *Config) ContentRouted(kind string) bool {
	for _, ft := range c.FeedbackTypesFor(kind) {
		if ft.When != nil {
			return true
		}
	}
	return false
}

// RouteRecord names the feedback type a record of kind goes to, and why;
// "" when none matches.
func (c *Config) RouteRecord(kind string, record []byte) (string, string, error) {
	var root any
	if err := json.Unmarshal(record, &root); err != nil {
		return "", "", fmt.Errorf("record is not valid JSON: %w", err)
	}
	for _, n := range c.order {
		ft := c.FeedbackTypes[n]
		if !contains(ft.RecordTypes, kind) {
			continue
		}
		if ft.When == nil {
			return n, "the first type without when: (takes what the ones before it did not)", nil
		}
		if matches(ft.When.eval(root, nil)) {
			return n, fmt.Sprintf("its when: %s matched", ft.When.src), nil
		}
	}
	return "", fmt.Sprintf("no feedback type fed by %s records has a when: that matches", kind), nil
}

func matches(vals []any) bool {
	for _, v := range vals {
		switch x := v.(type) {
		case nil:
		case string:
			if strings.TrimSpace(x) != "" {
				return true
			}
		case bool:
			if x {
				return true
			}
		case []any:
			if len(x) > 0 {
				return true
			}
		case map[string]any:
			if len(x) > 0 {
				return true
			}
		default:
			return true
		}
	}
	return false
}

// checkRoutes refuses a route no record can take: among the feedback types
// fed by one kind that route by content, one without when: that comes
// before another would take every record before it is asked.
func checkRoutes(d *decoder, ftf *fields, c *Config) {
	for _, kind := range knownKinds {
		if !c.ContentRouted(kind) {
			continue
		}
		catchAll := ""
		for _, n := range c.order {
			ft := c.FeedbackTypes[n]
			if !contains(ft.RecordTypes, kind) {
				continue
			}
			if catchAll != "" {
				d.errf(ftf.get(catchAll), ftf.at(catchAll), "has no when: and comes before %q, which is also fed by %s records: %q could never receive one — move %q last or give it a when:",
					n, kind, n, catchAll)
				break
			}
			if ft.When == nil {
				catchAll = n
			}
		}
	}
}
