package orgwalk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/orgaudit/orgaudit/internal/backoff"
)

// Walk phases.
const (
	PhaseEntities    = "entities"    // listing OUs and accounts
	PhaseAttachments = "attachments" // listing where SCPs are attached, and their documents
	PhaseDone        = "done"
)

// Task kinds: one listing (all its pages) or one describe call.
const (
	taskOUs            = "ous"            // ListOrganizationalUnitsForParent(ID)
	taskAccounts       = "accounts"       // ListAccountsForParent(ID)
	taskTargetPolicies = "targetPolicies" // ListPoliciesForTarget(ID)
	taskPolicies       = "policies"       // ListPolicies(SERVICE_CONTROL_POLICY)
	taskPolicyTargets  = "policyTargets"  // ListTargetsForPolicy(ID)
	taskDescribe       = "describe"       // DescribePolicy(ID)
)

// Task is one listing still to do. Token is the next page to read ("" for
// the first): every page read is applied to the Progress together with the
// token after it, so a walk stopped anywhere repeats at most the page that
// was in flight.
type Task struct {
	Kind  string `json:"kind"`
	ID    string `json:"id,omitempty"`
	Token string `json:"token,omitempty"`
}

// Policy is an SCP attached somewhere the walk looked, with its document.
type Policy struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	AWSManaged  bool   `json:"awsManaged,omitempty"`
	Content     string `json:"content"`
}

// Progress is a walk: what is known so far and what is left to list. It
// is JSON, saved between invocations.
type Progress struct {
	OrganizationID      string `json:"organizationId"`
	ManagementAccountID string `json:"managementAccountId"`
	Phase               string `json:"phase"`
	// Descend and Accounts are the walk's shape (see Plan).
	Descend     bool `json:"descend,omitempty"`
	Accounts    bool `json:"accounts,omitempty"`
	Attachments bool `json:"attachments,omitempty"`
	// Extra are the ids, besides the entities walked, whose attachments
	// are wanted (the ancestors of the walk's starting points).
	Extra []string `json:"extra,omitempty"`
	// Entities holds the root, then every entity found, in the order found.
	Entities []Entity `json:"entities"`
	Tasks    []Task   `json:"tasks,omitempty"`
	// Attached maps a target id to the SCPs attached directly to it.
	Attached map[string][]string `json:"attached,omitempty"`
	Policies map[string]Policy   `json:"policies,omitempty"`
	// Calls counts the Organizations requests made, Throttled those
	// answered with throttling.
	Calls     int `json:"calls"`
	Throttled int `json:"throttled,omitempty"`
	// PaceMillis is the learned gap between calls (0: as fast as the
	// workers go); ThrottledSince the unix milliseconds of the first
	// throttled answer since the last successful call (0: none).
	PaceMillis     int64 `json:"paceMillis,omitempty"`
	ThrottledSince int64 `json:"throttledSince,omitempty"`
	// NextCall is the unix milliseconds before which the next call may
	// not start (the pace, kept across invocations).
	NextCall int64 `json:"nextCall,omitempty"`

	index map[string]int  // entity id → index in Entities
	want  map[string]bool // attachment targets, once the entities are known
}

// Root returns the organization root.
func (p *Progress) Root() Entity { return p.Entities[0] }

// Done reports whether nothing is left to list.
func (p *Progress) Done() bool { return p.Phase == PhaseDone }

// Counts returns how many OUs and accounts the walk has found.
func (p *Progress) Counts() (ous, accounts int) {
	for _, e := range p.Entities {
		switch e.Type {
		case TypeOU:
			ous++
		case TypeAccount:
			accounts++
		}
	}
	return ous, accounts
}

// Entity returns the walked entity with the given id.
func (p *Progress) Entity(id string) (Entity, bool) {
	p.reindex()
	i, ok := p.index[id]
	if !ok {
		return Entity{}, false
	}
	return p.Entities[i], true
}

func (p *Progress) reindex() {
	if p.index != nil && len(p.index) == len(p.Entities) {
		return
	}
	p.index = make(map[string]int, len(p.Entities))
	for i, e := range p.Entities {
		p.index[e.ID] = i
	}
}

// add records e unless it is known already, and reports whether it was new.
func (p *Progress) add(e Entity) bool {
	p.reindex()
	if _, dup := p.index[e.ID]; dup {
		return false
	}
	p.index[e.ID] = len(p.Entities)
	p.Entities = append(p.Entities, e)
	return true
}

func (p *Progress) queue(t Task) { p.Tasks = append(p.Tasks, t) }

// Plan sets the walk's shape and queues its first listings. starts are
// the entities to walk down from (the root for a whole organization, or
// entities Locate found); descend lists the OUs under them, recursively;
// accounts lists the accounts under every root and OU walked; attachments
// then lists the SCPs attached to every entity walked (the management
// account aside) and to the ancestors of starts, and reads each one's
// document.
func (p *Progress) Plan(starts []Entity, descend, accounts, attachments bool) {
	p.Descend, p.Accounts, p.Attachments = descend, accounts, attachments
	p.Phase = PhaseEntities
	extra := map[string]bool{}
	for _, s := range starts {
		p.add(s)
		p.expand(s)
		segs := strings.Split(s.Path, "/")
		for _, id := range segs[1 : len(segs)-1] {
			extra[id] = true
		}
	}
	for id := range extra {
		if _, walked := p.Entity(id); !walked {
			p.Extra = append(p.Extra, id)
		}
	}
	sort.Strings(p.Extra)
}

// expand queues the listings under a newly found root or OU.
func (p *Progress) expand(e Entity) {
	if e.Type == TypeAccount {
		return
	}
	if p.Descend && e.Depth < maxDepth {
		p.queue(Task{Kind: taskOUs, ID: e.ID})
	}
	if p.Accounts {
		p.queue(Task{Kind: taskAccounts, ID: e.ID})
	}
}

// targets returns the ids whose attachments the walk wants, sorted.
func (p *Progress) targets() []string {
	var out []string
	for _, e := range p.Entities {
		if e.ID != p.ManagementAccountID {
			out = append(out, e.ID)
		}
	}
	out = append(out, p.Extra...)
	sort.Strings(out)
	return slices.Compact(out)
}

// startAttachments moves the walk to its second phase.
func (p *Progress) startAttachments(byTargetMax int) {
	p.Phase = PhaseAttachments
	targets := p.targets()
	if byTargetMax >= 0 && len(targets) <= byTargetMax {
		for _, t := range targets {
			p.queue(Task{Kind: taskTargetPolicies, ID: t})
		}
		return
	}
	p.queue(Task{Kind: taskPolicies})
}

// attach records that policy is attached to target and queues reading the
// policy's document the first time it is seen.
func (p *Progress) attach(target, policy string) {
	if p.Attached == nil {
		p.Attached = map[string][]string{}
	}
	if slices.Contains(p.Attached[target], policy) {
		return
	}
	p.Attached[target] = append(p.Attached[target], policy)
	if _, known := p.Policies[policy]; known {
		return
	}
	for _, t := range p.Tasks {
		if t.Kind == taskDescribe && t.ID == policy {
			return
		}
	}
	if p.Policies == nil {
		p.Policies = map[string]Policy{}
	}
	// A placeholder marks the document as asked for; describe fills it.
	p.Policies[policy] = Policy{ID: policy}
	p.queue(Task{Kind: taskDescribe, ID: policy})
}

// finish sorts what the walk found, so that a walk stopped and resumed any
// number of times ends with the same Progress as one that never stopped.
func (p *Progress) finish() {
	p.Phase = PhaseDone
	root := p.Entities[0]
	rest := p.Entities[1:]
	order := map[string]int{TypeRoot: 0, TypeOU: 1, TypeAccount: 2}
	sort.SliceStable(rest, func(i, j int) bool {
		if order[rest[i].Type] != order[rest[j].Type] {
			return order[rest[i].Type] < order[rest[j].Type]
		}
		return rest[i].Path < rest[j].Path
	})
	p.Entities = append([]Entity{root}, rest...)
	p.index = nil
	for _, ids := range p.Attached {
		sort.Strings(ids)
	}
	p.Tasks = nil
}

// Begin reads the organization and its root: the first calls of every
// walk. The Progress it returns has nothing planned yet.
func (w *Walker) Begin(ctx context.Context) (*Progress, error) {
	p := &Progress{Phase: PhaseEntities}
	c := w.caller(p, time.Time{})
	var desc *organizations.DescribeOrganizationOutput
	err := c.do(ctx, "describe organization", func(ctx context.Context) (err error) {
		desc, err = w.API.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
		return err
	})
	if err != nil {
		return nil, err
	}
	if desc.Organization == nil {
		return nil, fmt.Errorf("describe organization: empty answer")
	}
	p.OrganizationID = aws.ToString(desc.Organization.Id)
	p.ManagementAccountID = aws.ToString(desc.Organization.MasterAccountId)
	var roots []types.Root
	var token *string
	for {
		var out *organizations.ListRootsOutput
		err := c.do(ctx, "list roots", func(ctx context.Context) (err error) {
			out, err = w.API.ListRoots(ctx, &organizations.ListRootsInput{NextToken: token})
			return err
		})
		if err != nil {
			return nil, err
		}
		roots = append(roots, out.Roots...)
		if token = out.NextToken; token == nil {
			break
		}
	}
	if len(roots) != 1 {
		return nil, fmt.Errorf("list roots: %d roots; an organization has exactly one", len(roots))
	}
	root := Entity{ID: aws.ToString(roots[0].Id), Type: TypeRoot, Name: aws.ToString(roots[0].Name)}
	root.Path = p.OrganizationID + "/" + root.ID
	p.add(root)
	return p, nil
}

// NoEntity is the error of Locate for a path that names no entity of the
// organization.
type NoEntity struct {
	Path   string
	Reason string
}

func (e *NoEntity) Error() string { return fmt.Sprintf("%q %s", e.Path, e.Reason) }

// Locate returns the entity an entity path names, checking each step of
// the path with ListParents and naming the entity with
// DescribeOrganizationalUnit or DescribeAccount: a handful of calls, where
// finding it by listing could take thousands. A path that names no entity
// of the organization is a *NoEntity.
func (w *Walker) Locate(ctx context.Context, p *Progress, path string) (Entity, error) {
	root := p.Root()
	if path == root.Path {
		return root, nil
	}
	if !strings.HasPrefix(path, p.OrganizationID+"/") {
		return Entity{}, &NoEntity{path, "is not in organization " + p.OrganizationID}
	}
	if !strings.HasPrefix(path, root.Path+"/") {
		return Entity{}, &NoEntity{path, "names no entity of organization " + p.OrganizationID}
	}
	segs := strings.Split(strings.TrimPrefix(path, root.Path+"/"), "/")
	if len(segs) > maxDepth+1 {
		return Entity{}, &NoEntity{path, "names no entity of organization " + p.OrganizationID}
	}
	c := w.caller(p, time.Time{})
	parent := root.ID
	for i, id := range segs {
		isAccount := accountID(id)
		if id == "" || (isAccount && i != len(segs)-1) || (!isAccount && !strings.HasPrefix(id, "ou-")) {
			return Entity{}, &NoEntity{path, "names no entity of organization " + p.OrganizationID}
		}
		var out *organizations.ListParentsOutput
		err := c.do(ctx, "list parents of "+id, func(ctx context.Context) (err error) {
			out, err = w.API.ListParents(ctx, &organizations.ListParentsInput{ChildId: aws.String(id)})
			return err
		})
		if gone(err) {
			return Entity{}, &NoEntity{path, "names no entity of organization " + p.OrganizationID}
		}
		if err != nil {
			return Entity{}, err
		}
		if len(out.Parents) != 1 || aws.ToString(out.Parents[0].Id) != parent {
			return Entity{}, &NoEntity{path, "names no entity of organization " + p.OrganizationID}
		}
		parent = id
	}
	last := segs[len(segs)-1]
	e := Entity{ID: last, Path: path, Depth: len(segs)}
	if len(segs) > 1 {
		e.ParentID = segs[len(segs)-2]
	} else {
		e.ParentID = root.ID
	}
	var err error
	if accountID(last) {
		e.Type = TypeAccount
		e.Depth = 0
		err = c.do(ctx, "describe account "+last, func(ctx context.Context) error {
			out, err := w.API.DescribeAccount(ctx, &organizations.DescribeAccountInput{AccountId: aws.String(last)})
			if err == nil && out.Account != nil {
				e.Name = aws.ToString(out.Account.Name)
			}
			return err
		})
	} else {
		e.Type = TypeOU
		err = c.do(ctx, "describe OU "+last, func(ctx context.Context) error {
			out, err := w.API.DescribeOrganizationalUnit(ctx, &organizations.DescribeOrganizationalUnitInput{OrganizationalUnitId: aws.String(last)})
			if err == nil && out.OrganizationalUnit != nil {
				e.Name = aws.ToString(out.OrganizationalUnit.Name)
			}
			return err
		})
	}
	if gone(err) {
		return Entity{}, &NoEntity{path, "names no entity of organization " + p.OrganizationID}
	}
	return e, err
}

func accountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// gone reports whether err says the entity or policy asked about does not
// exist (any more): the walk skips it rather than failing.
func gone(err error) bool {
	switch backoff.Code(err) {
	case "ChildNotFoundException", "ParentNotFoundException", "TargetNotFoundException",
		"OrganizationalUnitNotFoundException", "AccountNotFoundException", "PolicyNotFoundException",
		"InvalidInputException":
		return true
	}
	return false
}

// Continue walks until nothing is left or until the deadline, whichever
// comes first, and reports whether the walk is done. Calls in flight at
// the deadline are let finish; none is started after it. An error leaves p
// as it was after the last page applied, so the walk can be continued.
func (w *Walker) Continue(ctx context.Context, p *Progress, until time.Time) (bool, error) {
	for !p.Done() {
		if err := w.runTasks(ctx, p, until); err != nil {
			if errors.Is(err, errStop) {
				return false, nil
			}
			return false, err
		}
		switch {
		case p.Phase == PhaseEntities && p.Attachments:
			p.startAttachments(w.byTargetMax())
		default:
			p.finish()
		}
	}
	return true, nil
}

// Run walks until done, without a deadline.
func (w *Walker) Run(ctx context.Context, p *Progress) error {
	_, err := w.Continue(ctx, p, time.Time{})
	return err
}

// runTasks runs the queued tasks, and those they queue, on the walker's
// workers until the queue is empty, the deadline passes or a task fails.
func (w *Walker) runTasks(ctx context.Context, p *Progress, until time.Time) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := w.caller(p, until)
	var (
		wg      sync.WaitGroup
		busy    int
		first   error
		wake    = make(chan struct{}, 1)
		stopped bool
	)
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	for {
		c.mu.Lock()
		for !stopped && first == nil && busy < w.workers() && len(p.Tasks) > 0 {
			t := p.Tasks[0]
			p.Tasks = p.Tasks[1:]
			busy++
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := w.runTask(ctx, c, p, &t)
				c.mu.Lock()
				busy--
				if err != nil {
					// Put the task back where it was, at the page it reached.
					p.Tasks = append([]Task{t}, p.Tasks...)
					if errors.Is(err, errStop) {
						stopped = true
					} else if first == nil {
						first = err
						cancel()
					}
				}
				c.mu.Unlock()
				signal()
			}()
		}
		idle := busy == 0
		done := idle && (len(p.Tasks) == 0 || stopped || first != nil)
		c.mu.Unlock()
		if done {
			break
		}
		<-wake
	}
	wg.Wait()
	switch {
	case first != nil:
		return first
	case stopped:
		return errStop
	}
	return nil
}

// runTask reads the pages of one task, applying each to p under c's lock.
func (w *Walker) runTask(ctx context.Context, c *caller, p *Progress, t *Task) error {
	for {
		token := aws.String(t.Token)
		if t.Token == "" {
			token = nil
		}
		var next *string
		var apply func()
		var err error
		switch t.Kind {
		case taskOUs:
			err = c.do(ctx, "list OUs under "+t.ID, func(ctx context.Context) error {
				out, err := w.API.ListOrganizationalUnitsForParent(ctx, &organizations.ListOrganizationalUnitsForParentInput{ParentId: aws.String(t.ID), NextToken: token})
				if err != nil {
					return err
				}
				next = out.NextToken
				apply = func() {
					parent, _ := p.Entity(t.ID)
					for _, ou := range out.OrganizationalUnits {
						id := aws.ToString(ou.Id)
						e := Entity{ID: id, Type: TypeOU, Name: aws.ToString(ou.Name), ParentID: parent.ID, Path: parent.Path + "/" + id, Depth: parent.Depth + 1}
						if p.add(e) {
							p.expand(e)
						}
					}
				}
				return nil
			})
		case taskAccounts:
			err = c.do(ctx, "list accounts under "+t.ID, func(ctx context.Context) error {
				out, err := w.API.ListAccountsForParent(ctx, &organizations.ListAccountsForParentInput{ParentId: aws.String(t.ID), NextToken: token})
				if err != nil {
					return err
				}
				next = out.NextToken
				apply = func() {
					parent, _ := p.Entity(t.ID)
					for _, a := range out.Accounts {
						id := aws.ToString(a.Id)
						p.add(Entity{ID: id, Type: TypeAccount, Name: aws.ToString(a.Name), ParentID: parent.ID, Path: parent.Path + "/" + id})
					}
				}
				return nil
			})
		case taskTargetPolicies:
			err = c.do(ctx, "list policies for "+t.ID, func(ctx context.Context) error {
				out, err := w.API.ListPoliciesForTarget(ctx, &organizations.ListPoliciesForTargetInput{TargetId: aws.String(t.ID), Filter: types.PolicyTypeServiceControlPolicy, NextToken: token})
				if err != nil {
					return err
				}
				next = out.NextToken
				apply = func() {
					for _, pol := range out.Policies {
						p.attach(t.ID, aws.ToString(pol.Id))
					}
				}
				return nil
			})
		case taskPolicies:
			err = c.do(ctx, "list service control policies", func(ctx context.Context) error {
				out, err := w.API.ListPolicies(ctx, &organizations.ListPoliciesInput{Filter: types.PolicyTypeServiceControlPolicy, NextToken: token})
				if err != nil {
					return err
				}
				next = out.NextToken
				apply = func() {
					for _, pol := range out.Policies {
						p.queue(Task{Kind: taskPolicyTargets, ID: aws.ToString(pol.Id)})
					}
				}
				return nil
			})
		case taskPolicyTargets:
			err = c.do(ctx, "list targets of "+t.ID, func(ctx context.Context) error {
				out, err := w.API.ListTargetsForPolicy(ctx, &organizations.ListTargetsForPolicyInput{PolicyId: aws.String(t.ID), NextToken: token})
				if err != nil {
					return err
				}
				next = out.NextToken
				apply = func() {
					want := p.wanted()
					for _, tg := range out.Targets {
						if id := aws.ToString(tg.TargetId); want[id] {
							p.attach(id, t.ID)
						}
					}
				}
				return nil
			})
		case taskDescribe:
			err = c.do(ctx, "describe policy "+t.ID, func(ctx context.Context) error {
				out, err := w.API.DescribePolicy(ctx, &organizations.DescribePolicyInput{PolicyId: aws.String(t.ID)})
				if err != nil {
					return err
				}
				apply = func() {
					pol := Policy{ID: t.ID}
					if out.Policy != nil {
						pol.Content = aws.ToString(out.Policy.Content)
						if s := out.Policy.PolicySummary; s != nil {
							pol.Name, pol.Description, pol.AWSManaged = aws.ToString(s.Name), aws.ToString(s.Description), s.AwsManaged
						}
					}
					p.Policies[t.ID] = pol
				}
				return nil
			})
		default:
			return fmt.Errorf("walk: unknown task %q", t.Kind)
		}
		if gone(err) {
			// Removed since it was found: nothing under it to list.
			if w.Logger != nil {
				w.Logger.Info("organizations entity gone during the walk", "task", t.Kind, "id", t.ID, "code", backoff.Code(err))
			}
			return nil
		}
		if err != nil {
			return err
		}
		c.mu.Lock()
		apply()
		t.Token = aws.ToString(next)
		c.mu.Unlock()
		if next == nil {
			return nil
		}
	}
}

// wanted returns the attachment targets as a set (called under the lock;
// the entities no longer change in the attachments phase).
func (p *Progress) wanted() map[string]bool {
	if p.want == nil {
		p.want = map[string]bool{}
		for _, id := range p.targets() {
			p.want[id] = true
		}
	}
	return p.want
}
