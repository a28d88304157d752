package reportstore

import (
	"context"
	"encoding/base64"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azqueue/queueerror"
)

// maxMessageLen is Azure's limit on a queue message, as sent (base64).
const maxMessageLen = 64 << 10

// Queue is an Azure Storage queue of run requests. It is safe for concurrent
// use.
//
// Messages are sent base64-encoded, which is what the Azure Functions queue
// trigger decodes by default (host.json: "messageEncoding": "base64").
type Queue struct {
	name string
	c    *azqueue.QueueClient
	// endpoint is the queue's URL without its query, for errors.
	endpoint string
}

// NewQueueFromConnectionString returns the queue name of the account in a
// storage connection string: Azurite's development string or an
// account-key string. opts may be nil.
func NewQueueFromConnectionString(conn, name string, opts *azqueue.ClientOptions) (*Queue, error) {
	if err := checkStorageName("queue", name); err != nil {
		return nil, err
	}
	c, err := azqueue.NewQueueClientFromConnectionString(conn, name, opts)
	if err != nil {
		// As for blobs, the SDK's errors do not quote the string (which
		// holds the account key).
		return nil, fmt.Errorf("reportstore: storage connection string: %w", err)
	}
	return &Queue{name: name, c: c, endpoint: withoutQuery(c.URL())}, nil
}

// NewQueue returns the queue name of the queue service at serviceURL
// ("https://<account>.queue.core.windows.net/", the value of a Functions
// app's AzureWebJobsStorage__queueServiceUri setting), authenticated with
// cred, such as a managed identity. opts may be nil.
func NewQueue(serviceURL, name string, cred azcore.TokenCredential, opts *azqueue.ClientOptions) (*Queue, error) {
	if err := checkNewArgs("queue", name, cred); err != nil {
		return nil, err
	}
	c, err := azqueue.NewServiceClient(serviceURL, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("reportstore: queue service %q: %w", serviceURL, err)
	}
	qc := c.NewQueueClient(name)
	return &Queue{name: name, c: qc, endpoint: withoutQuery(qc.URL())}, nil
}

// Name returns the name of the queue.
func (q *Queue) Name() string { return q.name }

// Ensure creates the queue if it does not exist yet.
func (q *Queue) Ensure(ctx context.Context) error {
	_, err := q.c.Create(ctx, nil)
	if err != nil && !queueerror.HasCode(err, queueerror.QueueAlreadyExists) {
		if uerr := unreachable(q.endpoint, "create queue", err); uerr != nil {
			return uerr
		}
		return fmt.Errorf("reportstore: create queue %q: %w", q.name, err)
	}
	return nil
}

// Send enqueues msg, base64-encoded (standard encoding, padded). A message
// whose encoded form exceeds Azure's limit of 64 KiB (that is, msg of more
// than 48 KiB) is rejected before any I/O.
func (q *Queue) Send(ctx context.Context, msg []byte) error {
	if n := base64.StdEncoding.EncodedLen(len(msg)); n > maxMessageLen {
		return fmt.Errorf("reportstore: send to queue %q: message of %d bytes is %d bytes in base64, over the 64 KiB limit", q.name, len(msg), n)
	}
	if _, err := q.c.EnqueueMessage(ctx, base64.StdEncoding.EncodeToString(msg), nil); err != nil {
		if uerr := unreachable(q.endpoint, "send", err); uerr != nil {
			return uerr
		}
		return fmt.Errorf("reportstore: send to queue %q: %w", q.name, err)
	}
	return nil
}
