package reportstore

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"

	"github.com/tenantreport/tenantreport/internal/azuritetest"
)

// newQueue returns a Queue of a new, created queue of the Azurite that
// scripts/with-azurite.sh started, and a raw client of the same queue.
func newQueue(t *testing.T) (*Queue, *azqueue.QueueClient) {
	t.Helper()
	conn, name := azuritetest.ConnectionString(t), azuritetest.Container(t)
	q, err := NewQueueFromConnectionString(conn, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q.Name() != name {
		t.Errorf("Name() = %q, want %q", q.Name(), name)
	}
	if err := q.Ensure(t.Context()); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	raw, err := azqueue.NewQueueClientFromConnectionString(conn, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return q, raw
}

func TestQueueSend(t *testing.T) {
	q, raw := newQueue(t)
	if err := q.Ensure(t.Context()); err != nil {
		t.Errorf("second Ensure = %v, want nil", err)
	}
	msgs := [][]byte{
		[]byte(`{"runID":"r1","tenants":["contoso"]}`),
		{0x00, 0xff, '<', '&', '>', 0xfe},                                       // not text, not XML-safe
		bytes.Repeat([]byte("x"), base64.StdEncoding.DecodedLen(maxMessageLen)), // 64 KiB encoded
	}
	for _, msg := range msgs {
		if err := q.Send(t.Context(), msg); err != nil {
			t.Fatalf("Send(%d bytes): %v", len(msg), err)
		}
	}
	// One at a time, so that each arrives in order; Azurite's queue is FIFO.
	for _, want := range msgs {
		resp, err := raw.DequeueMessage(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Messages) != 1 || resp.Messages[0].MessageText == nil {
			t.Fatalf("DequeueMessage = %d messages, want 1", len(resp.Messages))
		}
		text := *resp.Messages[0].MessageText
		got, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			t.Errorf("message %.40q... is not standard base64: %v", text, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("decoded message = %.40q (%d bytes), want %.40q (%d bytes)", got, len(got), want, len(want))
		}
	}
}

func TestQueueSendTooLarge(t *testing.T) {
	const conn = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;QueueEndpoint=http://127.0.0.1:1/devstoreaccount1;"
	q, err := NewQueueFromConnectionString(conn, "runs", &azqueue.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: noRequests{t}}})
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, base64.StdEncoding.DecodedLen(maxMessageLen)+1)
	if err := q.Send(t.Context(), msg); err == nil {
		t.Errorf("Send(%d bytes) succeeded, want an error: its base64 is over 64 KiB", len(msg))
	}
}

func TestNewQueueInvalid(t *testing.T) {
	const conn = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;QueueEndpoint=http://127.0.0.1:1/devstoreaccount1;"
	const service = "https://acct.queue.core.windows.net/"
	for _, name := range []string{"", "ab", "Upper", "a--b", "-ab", "ab-", "a_b", strings.Repeat("a", 64)} {
		if _, err := NewQueueFromConnectionString(conn, name, nil); err == nil || !strings.Contains(err.Error(), "invalid queue name") {
			t.Errorf("NewQueueFromConnectionString(queue %q) = %v, want an invalid queue name error", name, err)
		}
		if _, err := NewQueue(service, name, fakeCred{}, nil); err == nil {
			t.Errorf("NewQueue(queue %q) succeeded, want an error", name)
		}
	}
	for _, name := range []string{"abc", "runs", "a-1", strings.Repeat("a", 63)} {
		if _, err := NewQueueFromConnectionString(conn, name, nil); err != nil {
			t.Errorf("NewQueueFromConnectionString(queue %q) = %v, want nil", name, err)
		}
		if _, err := NewQueue(service, name, fakeCred{}, nil); err != nil {
			t.Errorf("NewQueue(queue %q) = %v, want nil", name, err)
		}
	}
	if _, err := NewQueueFromConnectionString("garbage;AccountKey=secret", "runs", nil); err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("NewQueueFromConnectionString(garbage) = %v, want an error that does not echo the string", err)
	}
	if _, err := NewQueue(service, "runs", nil, nil); err == nil {
		t.Error("NewQueue(nil credential) succeeded, want an error")
	}
}
