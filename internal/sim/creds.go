package sim

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
	"github.com/orgaudit/orgaudit/internal/sim/wire"
)

// principal is what an access key authenticates as.
type principal struct {
	secret string
	caller wire.Caller
	// token and expires are set for session credentials issued by
	// AssumeRole; long-term credentials have neither.
	token   string
	expires time.Time
}

type credStore struct {
	mu   sync.RWMutex
	keys map[string]*principal
}

var userARNRE = regexp.MustCompile(`^arn:aws:iam::(\d{12}):(root|user/[\w+=,.@/-]{1,512})$`)

func newCredStore(org *orgmodel.Org, extra []Credential) (*credStore, error) {
	cs := &credStore{keys: map[string]*principal{}}
	all := append([]Credential{{
		AccessKeyID:     DefaultAccessKeyID,
		SecretAccessKey: DefaultSecretAccessKey,
		ARN:             "arn:aws:iam::" + org.ManagementAccountID + ":user/" + DefaultUserName,
	}}, extra...)
	for _, c := range all {
		if c.AccessKeyID == "" || c.SecretAccessKey == "" {
			return nil, fmt.Errorf("credential %q: access key id and secret are required", c.AccessKeyID)
		}
		if _, dup := cs.keys[c.AccessKeyID]; dup {
			return nil, fmt.Errorf("credential %q: duplicate access key id", c.AccessKeyID)
		}
		m := userARNRE.FindStringSubmatch(c.ARN)
		if m == nil {
			return nil, fmt.Errorf("credential %q: arn %q: want arn:aws:iam::<account>:user/<name> or arn:aws:iam::<account>:root", c.AccessKeyID, c.ARN)
		}
		userID := m[1] // the root user's id is its account id
		if m[2] != "root" {
			userID = "AIDA" + stableID(c.ARN, 17)
		}
		cs.keys[c.AccessKeyID] = &principal{
			secret: c.SecretAccessKey,
			caller: wire.Caller{AccessKeyID: c.AccessKeyID, Account: m[1], ARN: c.ARN, UserID: userID, NoOrganizationsAccess: c.NoOrganizationsAccess},
		}
	}
	return cs, nil
}

func (cs *credStore) lookup(akid string) (*principal, bool) {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	p, ok := cs.keys[akid]
	return p, ok
}

// issue creates session credentials for caller that expire at expires.
func (cs *credStore) issue(caller wire.Caller, expires time.Time) *principal {
	p := &principal{
		secret:  randomString(40),
		token:   "FwoGZXIvYXdzE" + base64.StdEncoding.EncodeToString(randomBytes(96)),
		expires: expires,
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for {
		akid := "ASIA" + strings.ToUpper(randomString(16))
		if _, dup := cs.keys[akid]; !dup {
			caller.AccessKeyID = akid
			p.caller = caller
			cs.keys[akid] = p
			return p
		}
	}
}

// LoadCredentials reads a JSON list of credentials, as --credentials takes:
// [{"accessKeyId": "…", "secretAccessKey": "…", "arn": "arn:aws:iam::<account>:user/<name>"}].
func LoadCredentials(path string) ([]Credential, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load credentials: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var cs []Credential
	if err := dec.Decode(&cs); err != nil {
		return nil, fmt.Errorf("load credentials %s: %w", path, err)
	}
	for i, c := range cs {
		if c.AccessKeyID == "" || c.SecretAccessKey == "" || !userARNRE.MatchString(c.ARN) {
			return nil, fmt.Errorf("load credentials %s: entry %d: want accessKeyId, secretAccessKey and arn arn:aws:iam::<account>:user/<name> or :root", path, i)
		}
	}
	return cs, nil
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// stableID derives n characters of an AWS-style unique id from s, so the
// same user or role always gets the same id.
func stableID(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	out := make([]byte, n)
	for i := range out {
		out[i] = idAlphabet[sum[i]%byte(len(idAlphabet))]
	}
	return string(out)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func randomString(n int) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := randomBytes(n)
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}
