package orgmodel

import (
	"fmt"
	"slices"
)

// MaxPoliciesPerTarget is how many SCPs Organizations lets one target
// carry.
const MaxPoliciesPerTarget = 5

// AddPolicy adds the SCP p to the organization without attaching it, as
// Organizations' CreatePolicy does. p needs an id of the policy id form
// not yet used and a document (Content, or the Allow shorthand), checked
// as Organizations checks it; a missing Name is set to the id.
//
// AddPolicy, AttachPolicy and DetachPolicy are safe to call while the
// organization is being read (a simulator serving it sees the change in
// the next answer it computes), but a report job reused by IAM's
// identical-request rule keeps its old answer: for a fresh audit of a
// changed organization, serve it with a new simulator.
func (o *Org) AddPolicy(p Policy) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, err := o.addPolicy(p)
	return err
}

// AttachPolicy attaches an SCP to the root, OU or account targetID, as
// Organizations' AttachPolicy does. When p.ID names a policy of the
// organization, that policy is attached (p must then carry no document,
// or the same one); otherwise p is added first, as AddPolicy adds it.
// Attaching a policy twice to one target, a sixth policy to a target, or
// to an id that is not an entity of the organization is an error.
func (o *Org) AttachPolicy(targetID string, p Policy) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.nodes[targetID]; !ok {
		return fmt.Errorf("attach policy %s: target %q is not the root, an OU or an account of the organization", p.ID, targetID)
	}
	cur := o.Attachments[targetID]
	if slices.Contains(cur, p.ID) {
		return fmt.Errorf("attach policy %s: it is already attached to %s", p.ID, targetID)
	}
	if len(cur) >= MaxPoliciesPerTarget {
		return fmt.Errorf("attach policy %s: %s already has %d SCPs attached, the most Organizations allows", p.ID, targetID, len(cur))
	}
	if have, ok := o.policies[p.ID]; ok {
		if (p.Content != "" || len(p.Allow) > 0) && policyText(&p) != have.Text() {
			return fmt.Errorf("attach policy %s: the organization has a policy of that id with another document", p.ID)
		}
	} else if _, err := o.addPolicy(p); err != nil {
		return err
	}
	o.setAttachments(targetID, append(slices.Clip(cur), p.ID))
	return nil
}

// DetachPolicy detaches the SCP policyID from targetID, as Organizations'
// DetachPolicy does; the policy stays in the organization. As in
// Organizations, a target must keep at least one SCP: detaching its last
// one is an error (attach the replacement first).
func (o *Org) DetachPolicy(targetID, policyID string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	cur := o.Attachments[targetID]
	i := slices.Index(cur, policyID)
	if i < 0 {
		return fmt.Errorf("detach policy %s: it is not attached to %q", policyID, targetID)
	}
	if len(cur) == 1 {
		return fmt.Errorf("detach policy %s: it is the last SCP attached to %s, and every target keeps at least one", policyID, targetID)
	}
	o.setAttachments(targetID, slices.Delete(slices.Clone(cur), i, i+1))
	return nil
}

// addPolicy checks p and appends it to the policies; o.mu is held.
func (o *Org) addPolicy(p Policy) (*Policy, error) {
	if !ValidPolicyID(p.ID) {
		return nil, fmt.Errorf("add policy: id %q: want p- and 8 to 128 letters, digits or underscores", p.ID)
	}
	if _, dup := o.policies[p.ID]; dup {
		return nil, fmt.Errorf("add policy: the organization already has a policy %s", p.ID)
	}
	if p.Name == "" {
		p.Name = p.ID
	}
	if err := p.prepare(); err != nil {
		return nil, fmt.Errorf("add policy: %w", err)
	}
	// A new array, so that slices and pointers handed out before stay
	// unchanged for their readers.
	o.Policies = append(slices.Clip(o.Policies), p)
	policies := make(map[string]*Policy, len(o.Policies))
	for i := range o.Policies {
		policies[o.Policies[i].ID] = &o.Policies[i]
	}
	o.policies = policies
	return o.policies[p.ID], nil
}

// setAttachments replaces the SCPs of targetID and reindexes the targets
// of every policy; o.mu is held. The maps are replaced, not changed, for
// the same reason as the policies.
func (o *Org) setAttachments(targetID string, ids []string) {
	att := make(map[string][]string, len(o.Attachments)+1)
	for t, v := range o.Attachments {
		att[t] = v
	}
	att[targetID] = ids
	targets := map[string][]string{}
	for t, v := range att {
		for _, id := range v {
			targets[id] = append(targets[id], t)
		}
	}
	for _, ts := range targets {
		slices.Sort(ts)
	}
	o.Attachments, o.targets = att, targets
}

// ListPolicies returns the organization's SCPs in their order.
func (o *Org) ListPolicies() []*Policy {
	o.mu.RLock()
	defer o.mu.RUnlock()
	out := make([]*Policy, len(o.Policies))
	for i := range o.Policies {
		out[i] = &o.Policies[i]
	}
	return out
}
