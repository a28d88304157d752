// Package runtest gives tests of package run and its callers a directory
// written as a function, for runs whose Graph is not the point, and reads
// back what runs stored.
package runtest

import (
	"context"

	"github.com/tenantreport/tenantreport/internal/graphdata"
	"github.com/tenantreport/tenantreport/internal/settings"
)

// Collector is a function serving the sections asked of a tenant, as a
// run.Collector that knows no tenant's size and predicts nothing.
type Collector func(ctx context.Context, t settings.Tenant, sections []string, emit func(string, any) error) (graphdata.Result, error)

// Collect calls f with the job's tenant and sections.
func (f Collector) Collect(ctx context.Context, job graphdata.Job, emit func(string, any) error) (graphdata.Result, error) {
	return f(ctx, job.Tenant, job.Sections, emit)
}

// Survey knows nothing of a tenant's size.
func (f Collector) Survey(context.Context, settings.Tenant) (graphdata.Size, error) {
	return graphdata.Size{}, nil
}

// Mark marks nothing.
func (f Collector) Mark() graphdata.Mark { return graphdata.Mark{} }

// Plan predicts nothing.
func (f Collector) Plan([]graphdata.Planned, graphdata.Mark) *graphdata.Plan { return nil }
