package reportstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// Upload buffers: each upload holds at most uploadConcurrency blocks of
// uploadBlockSize bytes in memory. 4 MiB blocks allow blobs of up to
// 195 GiB (50,000 blocks).
const (
	uploadBlockSize   = 4 << 20
	uploadConcurrency = 4
)

// Store is an Azure Blob Storage container. It is safe for concurrent use.
type Store struct {
	c *container.Client
}

// NewFromConnectionString returns the Store for a container of the account
// in a storage connection string: Azurite's development string or an
// account-key string. opts may be nil.
func NewFromConnectionString(conn, container string, opts *azblob.ClientOptions) (*Store, error) {
	if err := checkContainer(container); err != nil {
		return nil, err
	}
	c, err := azblob.NewClientFromConnectionString(conn, opts)
	if err != nil {
		// The SDK's errors describe the problem without quoting the string
		// (which holds the account key); keep it that way.
		return nil, fmt.Errorf("reportstore: storage connection string: %w", err)
	}
	return &Store{c: c.ServiceClient().NewContainerClient(container)}, nil
}

// New returns the Store for a container of the blob service at serviceURL
// ("https://<account>.blob.core.windows.net/", the value of a Functions
// app's AzureWebJobsStorage__blobServiceUri setting), authenticated with
// cred, such as a managed identity. opts may be nil.
func New(serviceURL, container string, cred azcore.TokenCredential, opts *azblob.ClientOptions) (*Store, error) {
	if err := checkContainer(container); err != nil {
		return nil, err
	}
	if cred == nil {
		return nil, errors.New("reportstore: nil credential")
	}
	c, err := azblob.NewClient(serviceURL, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("reportstore: blob service %q: %w", serviceURL, err)
	}
	return &Store{c: c.ServiceClient().NewContainerClient(container)}, nil
}

// checkContainer applies Azure's container naming rules: 3 to 63 lowercase
// letters, digits and single hyphens, starting and ending with a letter or
// digit.
func checkContainer(name string) error {
	ok := len(name) >= 3 && len(name) <= 63 && !strings.Contains(name, "--") &&
		name[0] != '-' && name[len(name)-1] != '-' &&
		!strings.ContainsFunc(name, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') })
	if !ok {
		return fmt.Errorf("reportstore: invalid container name %q", name)
	}
	return nil
}

// EnsureContainer creates the container if it does not exist yet.
func (s *Store) EnsureContainer(ctx context.Context) error {
	_, err := s.c.Create(ctx, nil)
	if err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		return fmt.Errorf("reportstore: create container: %w", err)
	}
	return nil
}

// Upload streams r into the block blob name, replacing any blob of that
// name. The data is staged in blocks and committed in one request once r
// reports io.EOF, so the blob (or its new content) becomes visible only when
// complete; if r fails or ctx ends first, Upload returns the error and the
// staged blocks are never committed. The content type follows the extension
// (.xlsx, .json, otherwise application/octet-stream). Upload holds at most
// 16 MiB of r in memory.
func (s *Store) Upload(ctx context.Context, name string, r io.Reader) error {
	if err := checkName(name); err != nil {
		return err
	}
	ct := contentType(name)
	_, err := s.c.NewBlockBlobClient(name).UploadStream(ctx, r, &blockblob.UploadStreamOptions{
		BlockSize:   uploadBlockSize,
		Concurrency: uploadConcurrency,
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: &ct},
	})
	if err != nil {
		return fmt.Errorf("reportstore: upload %q: %w", name, err)
	}
	return nil
}

// Open returns a reader of the blob name. The download follows ctx until the
// reader is closed, resuming from where it broke off (on the same blob
// version) if the connection fails. A missing blob or container is reported
// as an error wrapping [ErrNotFound].
func (s *Store) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	resp, err := s.c.NewBlobClient(name).DownloadStream(ctx, nil)
	if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("reportstore: open %q: %w", name, err)
	}
	return resp.NewRetryReader(ctx, nil), nil
}

// List returns the committed blobs whose names start with prefix, sorted by
// name. A missing container lists as empty.
func (s *Store) List(ctx context.Context, prefix string) ([]Item, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	var opts container.ListBlobsFlatOptions
	if prefix != "" {
		opts.Prefix = &prefix
	}
	var items []Item
	pager := s.c.NewListBlobsFlatPager(&opts)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if bloberror.HasCode(err, bloberror.ContainerNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reportstore: list %q: %w", prefix, err)
		}
		for _, b := range page.Segment.BlobItems {
			if b == nil || b.Name == nil {
				continue
			}
			it := Item{Name: *b.Name}
			if p := b.Properties; p != nil {
				if p.ContentLength != nil {
					it.Size = *p.ContentLength
				}
				if p.LastModified != nil {
					it.LastModified = *p.LastModified
				}
			}
			items = append(items, it)
		}
	}
	// The service lists in name order already; sorting makes it a promise.
	slices.SortFunc(items, func(a, b Item) int { return strings.Compare(a.Name, b.Name) })
	return items, nil
}
