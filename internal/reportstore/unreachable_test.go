package reportstore

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
)

// TestUnreachableKeepsSignatureOut: with nothing listening at the blob
// endpoint, every operation fails with ErrUnreachable naming the endpoint,
// and never quotes the request URL, whose query holds the signature of a
// SAS connection string (net/http's *url.Error would).
func TestUnreachableKeepsSignatureOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused
	const sig = "c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"
	conn := "BlobEndpoint=http://" + addr + "/devstoreaccount1;SharedAccessSignature=sv=2023-11-03&ss=b&srt=sco&sp=rwl&se=2099-01-01T00:00:00Z&sig=" + sig
	opts := &azblob.ClientOptions{ClientOptions: azcore.ClientOptions{Retry: policy.RetryOptions{MaxRetries: -1}}}
	s, err := NewFromConnectionString(conn, "reports", opts)
	if err != nil {
		t.Fatal(err)
	}
	qconn := "QueueEndpoint=http://" + addr + "/devstoreaccount1;SharedAccessSignature=sv=2023-11-03&ss=q&srt=sco&sp=a&se=2099-01-01T00:00:00Z&sig=" + sig
	q, err := NewQueueFromConnectionString(qconn, "runs", &azqueue.ClientOptions{ClientOptions: opts.ClientOptions})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	_, statErr := s.Stat(ctx, "runs/x.json")
	_, openErr := s.Open(ctx, "runs/x.json")
	_, listErr := s.List(ctx, "runs/")
	_, leaseErr := s.Lease(ctx, "runs/x.json", minLease)
	for op, err := range map[string]error{
		"EnsureContainer": s.EnsureContainer(ctx),
		"Upload":          s.Upload(ctx, "runs/x.json", strings.NewReader("{}")),
		"Stat":            statErr,
		"Open":            openErr,
		"List":            listErr,
		"Lease":           leaseErr,
		"Queue.Ensure":    q.Ensure(ctx),
		"Queue.Send":      q.Send(ctx, []byte("{}")),
	} {
		if !errors.Is(err, ErrUnreachable) {
			t.Errorf("%s = %v, want ErrUnreachable", op, err)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, sig) || strings.Contains(msg, "sig=") || !strings.Contains(msg, "http://"+addr+"/devstoreaccount1/") {
			t.Errorf("%s = %q, want the endpoint named without the signature", op, msg)
		}
	}
}
