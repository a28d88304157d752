package reportstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

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
	// endpoint is the container's URL without its query (which holds the
	// signature of a SAS connection string), for errors.
	endpoint string
}

// newStore returns the Store of the container c.
func newStore(c *container.Client) *Store {
	return &Store{c: c, endpoint: withoutQuery(c.URL())}
}

// withoutQuery returns u without its query (which holds the signature of a
// SAS connection string), fragment and user info.
func withoutQuery(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable storage URL)"
	}
	p.RawQuery, p.Fragment, p.User = "", "", nil
	return p.String()
}

// NewFromConnectionString returns the Store for a container of the account
// in a storage connection string: Azurite's development string or an
// account-key string. opts may be nil.
func NewFromConnectionString(conn, container string, opts *azblob.ClientOptions) (*Store, error) {
	if err := checkStorageName("container", container); err != nil {
		return nil, err
	}
	c, err := azblob.NewClientFromConnectionString(conn, opts)
	if err != nil {
		// The SDK's errors describe the problem without quoting the string
		// (which holds the account key); keep it that way.
		return nil, fmt.Errorf("reportstore: storage connection string: %w", err)
	}
	return newStore(c.ServiceClient().NewContainerClient(container)), nil
}

// New returns the Store for a container of the blob service at serviceURL
// ("https://<account>.blob.core.windows.net/", the value of a Functions
// app's AzureWebJobsStorage__blobServiceUri setting), authenticated with
// cred, such as a managed identity. opts may be nil.
func New(serviceURL, container string, cred azcore.TokenCredential, opts *azblob.ClientOptions) (*Store, error) {
	if err := checkNewArgs("container", container, cred); err != nil {
		return nil, err
	}
	c, err := azblob.NewClient(serviceURL, cred, opts)
	if err != nil {
		return nil, fmt.Errorf("reportstore: blob service %q: %w", serviceURL, err)
	}
	return newStore(c.ServiceClient().NewContainerClient(container)), nil
}

// checkNewArgs checks the arguments that New and NewQueue share: the name
// of a container or queue (kind), and a credential.
func checkNewArgs(kind, name string, cred azcore.TokenCredential) error {
	if err := checkStorageName(kind, name); err != nil {
		return err
	}
	if cred == nil {
		return errors.New("reportstore: nil credential")
	}
	return nil
}

// EnsureContainer creates the container if it does not exist yet.
func (s *Store) EnsureContainer(ctx context.Context) error {
	_, err := s.c.Create(ctx, nil)
	if err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		if uerr := s.unreachable("create container", "", err); uerr != nil {
			return uerr
		}
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
// 16 MiB of r in memory. If someone holds a lease on the blob (see
// [Store.Lease]), the error wraps [ErrLeased] and the blob is unchanged.
func (s *Store) Upload(ctx context.Context, name string, r io.Reader) error {
	if err := checkName(name); err != nil {
		return err
	}
	return s.upload(ctx, name, r, nil)
}

// upload is Upload, and Lease.Upload when leaseID is not nil. A blob that
// holds a lease other than leaseID (or none, when leaseID is set) is
// reported as an error wrapping ErrLeased.
func (s *Store) upload(ctx context.Context, name string, r io.Reader, leaseID *string) error {
	ct := contentType(name)
	opts := blockblob.UploadStreamOptions{
		BlockSize:   uploadBlockSize,
		Concurrency: uploadConcurrency,
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: &ct},
	}
	if leaseID != nil {
		opts.AccessConditions = &blob.AccessConditions{
			LeaseAccessConditions: &blob.LeaseAccessConditions{LeaseID: leaseID},
		}
	}
	_, err := s.c.NewBlockBlobClient(name).UploadStream(ctx, r, &opts)
	if err != nil {
		return s.blobError("upload", name, err, false)
	}
	return nil
}

// leaseCodes are the service's answers to a request that conflicts with a
// lease: a write without the lease ID (LeaseIdMissing), a lease ID that is
// not the current one (LeaseIdMismatchWith…), a lease that expired
// (LeaseLost) or was broken or released (LeaseNotPresentWith…, Azurite also
// for a broken one), or an acquire while someone else holds the lease.
var leaseCodes = []bloberror.Code{
	bloberror.LeaseAlreadyPresent,
	bloberror.LeaseIDMissing,
	bloberror.LeaseIDMismatchWithBlobOperation,
	bloberror.LeaseIDMismatchWithLeaseOperation,
	bloberror.LeaseLost,
	bloberror.LeaseNotPresentWithBlobOperation,
	bloberror.LeaseNotPresentWithLeaseOperation,
	bloberror.LeaseIsBrokenAndCannotBeRenewed,
	bloberror.LeaseIsBreakingAndCannotBeAcquired,
	bloberror.LeaseIsBreakingAndCannotBeChanged,
	bloberror.LeaseAlreadyBroken,
}

// blobError translates err from operation op on the blob name: with
// notFound, a missing blob or container wraps ErrNotFound; a lease conflict
// wraps ErrLeased; no answer at all wraps ErrUnreachable.
func (s *Store) blobError(op, name string, err error, notFound bool) error {
	if uerr := s.unreachable(op, name, err); uerr != nil {
		return uerr
	}
	switch {
	case notFound && bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound):
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	case bloberror.HasCode(err, leaseCodes...):
		return fmt.Errorf("%w: %s %q: %w", ErrLeased, op, name, err)
	}
	return fmt.Errorf("reportstore: %s %q: %w", op, name, err)
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
	if err != nil {
		return nil, s.blobError("open", name, err, true)
	}
	return resp.NewRetryReader(ctx, nil), nil
}

// Stat returns the Item of the blob name. A missing blob or container is
// reported as an error wrapping [ErrNotFound].
func (s *Store) Stat(ctx context.Context, name string) (Item, error) {
	if err := checkName(name); err != nil {
		return Item{}, err
	}
	props, err := s.c.NewBlobClient(name).GetProperties(ctx, nil)
	if err != nil {
		return Item{}, s.blobError("stat", name, err, true)
	}
	return blobItem(name, props.ContentLength, props.LastModified, props.ETag), nil
}

// blobItem returns the Item of a blob from the properties the service
// reported, any of which may be nil.
func blobItem(name string, size *int64, lastModified *time.Time, etag *azcore.ETag) Item {
	it := Item{Name: name}
	if size != nil {
		it.Size = *size
	}
	if lastModified != nil {
		it.LastModified = *lastModified
	}
	if etag != nil {
		it.ETag = quoteETag(string(*etag))
	}
	return it
}

// quoteETag returns etag as an HTTP header value: the service sends it
// quoted in headers, but may list it bare.
func quoteETag(etag string) string {
	if etag == "" || strings.HasPrefix(etag, `W/"`) ||
		len(etag) >= 2 && strings.HasPrefix(etag, `"`) && strings.HasSuffix(etag, `"`) {
		return etag
	}
	return `"` + etag + `"`
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
			if uerr := s.unreachable("list", prefix, err); uerr != nil {
				return nil, uerr
			}
			return nil, fmt.Errorf("reportstore: list %q: %w", prefix, err)
		}
		for _, b := range page.Segment.BlobItems {
			if b == nil || b.Name == nil {
				continue
			}
			it := Item{Name: *b.Name}
			if p := b.Properties; p != nil {
				it = blobItem(*b.Name, p.ContentLength, p.LastModified, p.ETag)
			}
			items = append(items, it)
		}
	}
	// The service lists in name order already; sorting makes it a promise.
	slices.SortFunc(items, func(a, b Item) int { return strings.Compare(a.Name, b.Name) })
	return items, nil
}

// unreachable returns err, from operation op on name ("" for the
// container), as an error wrapping ErrUnreachable when the service gave no
// HTTP answer after the client's retries, and nil otherwise.
func (s *Store) unreachable(op, name string, err error) error {
	if name != "" {
		op += fmt.Sprintf(" %q", name)
	}
	return unreachable(s.endpoint, op, err)
}

// unreachable returns err, from operation op at endpoint, as an error
// wrapping ErrUnreachable when the service gave no HTTP answer after the
// client's retries (connection refused, DNS, a try timed out), and nil
// otherwise. The error names the endpoint and keeps the network error, but
// not net/http's *url.Error around it: that quotes the request URL, whose
// query holds the signature of a SAS connection string. (An answer's
// *azcore.ResponseError names the URL without its query.)
func unreachable(endpoint, op string, err error) error {
	if re := (*azcore.ResponseError)(nil); errors.As(err, &re) {
		return nil
	}
	ue := (*url.Error)(nil)
	if !errors.As(err, &ue) {
		return nil
	}
	return fmt.Errorf("%w: %s: %s: %w", ErrUnreachable, endpoint, op, ue.Err)
}
