package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ahacc/ahacc/internal/contract"
)

// DefaultNamespaceRetention is how long Temporal keeps a closed run's history
// in a namespace `starter setup-temporal` registers.
const DefaultNamespaceRetention = 72 * time.Hour

// SetupTemporal makes a Temporal cluster ready for ahacc: the namespace exists
// (registered with retention when absent) and every search attribute ahacc
// writes is registered as Keyword. Idempotent; it asks again (1 s apart) while
// the cluster is still starting, until ctx ends. It is the one registration
// path: `starter setup-temporal` (compose, Kubernetes, the cluster tests) and
// the dev stack on PostgreSQL both call it. It returns what it did, in words.
func SetupTemporal(ctx context.Context, c client.Client, namespace string, retention time.Duration, logger *slog.Logger) ([]string, error) {
	var done []string
	changed := false
	registered := map[string]string{} // what an earlier pass registered, by subject
	for {
		var err error
		var ch bool
		done, ch, err = setupTemporalOnce(ctx, c, namespace, retention)
		changed = changed || ch
		done = keepRegistered(done, registered)
		if err != nil && permanent(err) {
			return done, fmt.Errorf("set up namespace %s: %w", namespace, err)
		}
		// (A refused probe is InvalidArgument too, but asking again mends it.)
		if err == nil && changed {
			// What this run registered reaches each service's namespace cache
			// within its refresh interval (10 s by default); until then a start
			// that sets the attributes is refused. Wait until one is taken.
			if err = probeSearchAttributes(ctx, c); err == nil {
				done = append(done, "search attributes: usable (a probe workflow started with them, then terminated)")
			}
		}
		if err == nil {
			return done, nil
		}
		logger.Warn("temporal not ready for setup yet; asking again", "namespace", namespace, "error", err)
		select {
		case <-ctx.Done():
			return done, fmt.Errorf("set up namespace %s: %w (last: %v)", namespace, ctx.Err(), err)
		case <-time.After(time.Second):
		}
	}
}

// keepRegistered reports what an earlier pass registered as registered, not
// as "present" (a pass that registered the namespace and then met a cache not
// yet showing it is asked again, and then finds it present).
func keepRegistered(done []string, registered map[string]string) []string {
	for i, line := range done {
		subject, state, _ := strings.Cut(line, ": ")
		if strings.HasPrefix(state, "registered") {
			registered[subject] = line
		} else if earlier, ok := registered[subject]; ok {
			done[i] = earlier
		}
	}
	return done
}

func setupTemporalOnce(ctx context.Context, c client.Client, namespace string, retention time.Duration) (done []string, changed bool, err error) {
	ws := c.WorkflowService()
	_, err = ws.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	var nf *serviceerror.NamespaceNotFound
	switch {
	case errors.As(err, &nf):
		_, err = ws.RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        namespace,
			WorkflowExecutionRetentionPeriod: durationpb.New(retention),
			Description:                      "ahacc: Aha! ↔ Centercode sync",
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err != nil && !errors.As(err, &exists) {
			return done, changed, fmt.Errorf("register namespace: %w", err)
		}
		changed = true
		done = append(done, fmt.Sprintf("namespace %s: registered (retention %s)", namespace, retention))
	case err != nil:
		return done, changed, fmt.Errorf("describe namespace: %w", err)
	default:
		done = append(done, fmt.Sprintf("namespace %s: present", namespace))
	}
	ops := c.OperatorService()
	// A namespace just registered reaches the other frontends' caches a few
	// seconds later: until then this answers NotFound and the caller asks again.
	have, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return done, changed, fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, name := range contract.SearchAttributeNames {
		typ, ok := have.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing[name] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
		case typ != enumspb.INDEXED_VALUE_TYPE_KEYWORD:
			return done, changed, errWrongType{name: name, typ: typ}
		}
	}
	if len(missing) > 0 {
		_, err = ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
		var exists *serviceerror.AlreadyExists
		if err != nil && !errors.As(err, &exists) {
			return done, changed, fmt.Errorf("add search attributes: %w", err)
		}
		changed = true
	}
	for _, name := range contract.SearchAttributeNames {
		state := "present"
		if _, ok := missing[name]; ok {
			state = "registered"
		}
		done = append(done, fmt.Sprintf("search attribute %s (Keyword): %s", name, state))
	}
	// Confirm: every attribute is listed now.
	have, err = ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return done, changed, fmt.Errorf("list search attributes: %w", err)
	}
	for _, name := range contract.SearchAttributeNames {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			return done, changed, fmt.Errorf("search attribute %s not listed after registering it", name)
		}
	}
	slices.Sort(done[1:])
	return done, changed, nil
}

// probeSearchAttributes starts a workflow that sets every ahacc search
// attribute (on a task queue no worker polls) and terminates it at once: the
// start is refused ("no mapping defined for search attribute") until the
// services' namespace caches have the new attributes. The probe times out
// by itself after a minute should the terminate never happen.
func probeSearchAttributes(ctx context.Context, c client.Client) error {
	var sas []temporal.SearchAttributeUpdate
	for _, name := range contract.SearchAttributeNames {
		sas = append(sas, temporal.NewSearchAttributeKeyKeyword(name).ValueSet("setup-probe"))
	}
	id := fmt.Sprintf("ahacc-setup-probe-%d", time.Now().UnixNano())
	_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: "ahacc-setup-probe",
		WorkflowExecutionTimeout: time.Minute, TypedSearchAttributes: temporal.NewSearchAttributes(sas...)}, "AhaccSetupProbe")
	if err != nil {
		return fmt.Errorf("probe start with the search attributes: %w", err)
	}
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := c.TerminateWorkflow(tctx, id, "", "ahacc setup-temporal: probe done"); err != nil {
		return fmt.Errorf("terminate the probe workflow %s (it times out in a minute): %w", id, err)
	}
	return nil
}

// errWrongType: an attribute ahacc writes exists with another type; only an
// operator can mend that (Temporal cannot change a type in place).
type errWrongType struct {
	name string
	typ  enumspb.IndexedValueType
}

func (e errWrongType) Error() string {
	return fmt.Sprintf("search attribute %s exists as %s; ahacc writes it as Keyword: remove it (temporal operator search-attribute remove) or use another namespace", e.name, e.typ)
}

// permanent reports an answer asking again will not change: a wrong type,
// or Temporal refusing the request or the caller.
func permanent(err error) bool {
	var wt errWrongType
	if errors.As(err, &wt) {
		return true
	}
	switch serviceerror.ToStatus(err).Code() {
	case codes.InvalidArgument, codes.PermissionDenied, codes.Unauthenticated:
		return true
	}
	return false
}
