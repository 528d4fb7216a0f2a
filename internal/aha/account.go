package aha

import (
	"context"
	"net/http"
	"net/url"
)

// Me is the user an API key belongs to (GET /api/v1/me).
type Me struct {
	ID    FlexID `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// GetMe reads the user the API key belongs to.
func (c *Client) GetMe(ctx context.Context) (*Me, error) {
	var raw struct {
		User Me `json:"user"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/me", nil, nil, &raw); err != nil {
		return nil, err
	}
	return &raw.User, nil
}

// Product is a workspace (GET /api/v1/products/{id}).
type Product struct {
	ID              FlexID `json:"id"`
	ReferencePrefix string `json:"reference_prefix"`
	Name            string `json:"name"`
}

// GetProduct reads a workspace by id or reference prefix.
func (c *Client) GetProduct(ctx context.Context, id string) (*Product, error) {
	var raw struct {
		Product Product `json:"product"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/products/"+url.PathEscape(id), nil, nil, &raw); err != nil {
		return nil, err
	}
	return &raw.Product, nil
}

// Workflow is a workspace's workflow for one record type.
type Workflow struct {
	ID             FlexID `json:"id"`
	Name           string `json:"name"`
	StatusableType string `json:"statusable_type"` // Idea, Feature, …
	Statuses       []struct {
		ID   FlexID `json:"id"`
		Name string `json:"name"`
	} `json:"workflow_statuses"`
}

// ListWorkflows reads a workspace's workflows (GET /api/v1/products/{id}/workflows).
func (c *Client) ListWorkflows(ctx context.Context, productID string) ([]Workflow, error) {
	var raw struct {
		Workflows []Workflow `json:"workflows"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/products/"+url.PathEscape(productID)+"/workflows", nil, nil, &raw)
	return raw.Workflows, err
}

// Integration is an integration of a workspace.
type Integration struct {
	ID          FlexID `json:"id"`
	Name        string `json:"name"`
	ServiceName string `json:"service_name"`
}

// ListIntegrations reads a workspace's integrations (GET /api/v1/products/{id}/integrations).
func (c *Client) ListIntegrations(ctx context.Context, productID string) ([]Integration, error) {
	var raw struct {
		Integrations []Integration `json:"integrations"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/products/"+url.PathEscape(productID)+"/integrations", nil, nil, &raw)
	return raw.Integrations, err
}

// CustomFieldDefinition is a custom field of the account: a key on one
// record type (custom_fieldable_type: Ideas::Idea, Feature, Ideas::IdeaUser, …).
type CustomFieldDefinition struct {
	ID        FlexID `json:"id"`
	Key       string `json:"key"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	Fieldable string `json:"custom_fieldable_type"`
}

// ListCustomFieldDefinitions reads the account's custom fields (GET /api/v1/custom_field_definitions).
func (c *Client) ListCustomFieldDefinitions(ctx context.Context) ([]CustomFieldDefinition, error) {
	var raw struct {
		Defs []CustomFieldDefinition `json:"custom_field_definitions"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/custom_field_definitions", nil, nil, &raw)
	return raw.Defs, err
}
