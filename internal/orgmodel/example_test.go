package orgmodel_test

import (
	"fmt"
	"slices"

	"github.com/orgaudit/orgaudit/internal/orgmodel"
)

// A test attaches an SCP document to an OU of a generated organization
// and reads what the reports below it will list.
func ExampleOrg_AttachPolicy() {
	org, err := orgmodel.Generate(orgmodel.GenerateOptions{OUs: 10, Accounts: 40, Depth: 2, Seed: 7, Policies: -1})
	if err != nil {
		panic(err)
	}
	ou := org.ChildOUs(org.Root.ID)[0]
	err = org.AttachPolicy(ou, orgmodel.Policy{ID: "p-denyathena", Name: "DenyAthena", Content: `{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Deny", "Action": "athena:*", "Resource": "*"},
    {"Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"}
  ]
}`})
	if err != nil {
		panic(err)
	}
	below := org.AllowedServices(ou)
	fmt.Println(len(org.AllowedServices(org.Root.ID))-len(below), slices.Contains(below, "athena"), slices.Contains(below, "s3"))
	fmt.Println(org.PolicyServices("p-denyathena"))

	err = org.AttachPolicy(ou, orgmodel.Policy{ID: "p-badpolicy", Content: `{"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Principal": "*", "Action": "*", "Resource": "*"}}`})
	fmt.Println(err)
	// Output:
	// 1 false true
	// []
	// add policy: policy p-badpolicy (p-badpolicy): content: Statement[0]: Principal is not allowed in an SCP (an SCP applies to every principal of the accounts)
}
