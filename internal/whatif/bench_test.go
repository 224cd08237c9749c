package whatif

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/orgaudit/orgaudit/internal/catalog"
	"github.com/orgaudit/orgaudit/internal/policyset"
	"github.com/orgaudit/orgaudit/internal/reportdoc"
	"github.com/orgaudit/orgaudit/internal/scpeval"
)

// quotaScale builds the organization of AWS's quotas: 1,000 OUs four levels
// deep, 10,000 accounts, each account report listing 450 services of which
// 40 were accessed in the last year; FullAWSAccess everywhere, twenty
// service denies on OUs.
func quotaScale(b *testing.B) (*policyset.Document, []Report) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var services []string
	for _, s := range catalog.All()[:450] {
		services = append(services, s.Namespace)
	}
	root := org + "/r-ab12"
	att := map[string][]string{"r-ab12": {"p-FullAWSAccess"}}
	described := []policyset.Policy{{ID: "p-FullAWSAccess", Name: "FullAWSAccess", AWSManaged: true, Content: scpeval.FullAWSAccess}}
	for i := range 20 {
		id := fmt.Sprintf("p-deny%05d", i)
		described = append(described, policyset.Policy{ID: id, Name: id,
			Content: fmt.Sprintf(`{"Statement":{"Effect":"Deny","Action":["%s:*","%s:Get*"]}}`, services[rng.IntN(450)], services[rng.IntN(450)])})
	}
	reports := []Report{{Entity: reportdoc.Entity{ID: "r-ab12", Type: reportdoc.TypeRoot, Path: root}, AsOf: asOf, Listed: NewSet(services...)}}
	ouPath := make([]string, 1000)
	for i := range 1000 {
		id := fmt.Sprintf("ou-ab12-%08d", i)
		parent := root
		if i >= 6 {
			parent = ouPath[(i-6)/6]
		}
		ouPath[i] = parent + "/" + id
		att[id] = []string{"p-FullAWSAccess"}
		if i%50 == 7 {
			att[id] = append(att[id], fmt.Sprintf("p-deny%05d", i/50))
		}
		reports = append(reports, Report{Entity: reportdoc.Entity{ID: id, Type: reportdoc.TypeOU, Path: ouPath[i]}, AsOf: asOf, Listed: NewSet(services...)})
	}
	for k := range 10000 {
		id := fmt.Sprintf("%012d", 100000000000+k)
		path := ouPath[k%1000] + "/" + id
		att[id] = []string{"p-FullAWSAccess"}
		r := Report{Entity: reportdoc.Entity{ID: id, Type: reportdoc.TypeAccount, Path: path}, AsOf: asOf, Listed: NewSet(services...)}
		for _, j := range rng.Perm(450)[:40] {
			r.Accessed = append(r.Accessed, Access{Namespace: services[j], Last: asOf.Add(-time.Duration(rng.IntN(365*24)) * time.Hour),
				Region: "us-east-1", EntityPath: path, Accounts: 1})
		}
		reports = append(reports, r)
	}
	doc, err := policyset.New("bench", org, described, att)
	if err != nil {
		b.Fatal(err)
	}
	return doc, reports
}

// candidate5000 is a Deny of whole services and parts of others, just
// under 5,000 characters.
func candidate5000() string {
	var pats []string
	services := catalog.All()
	head, tail := `{"Version":"2012-10-17","Statement":[{"Sid":"Candidate","Effect":"Deny","Action":[`, `],"Resource":"*"}]}`
	for i := 0; ; i++ {
		p := fmt.Sprintf(`"%s:%s"`, services[(i*7)%len(services)].Namespace, []string{"*", "Get*", "*Delete*", "Put*"}[i%4])
		if len(head)+len(strings.Join(append(pats, p), ","))+len(tail) > 5000 {
			break
		}
		pats = append(pats, p)
	}
	return head + strings.Join(pats, ",") + tail
}

// BenchmarkWhatifQuotaScale is whatif on the root of the quota-scale
// organization: parse the candidate, evaluate every account, collect the
// breaks. peak-MB is the largest heap in use seen during the runs, the
// input included.
func BenchmarkWhatifQuotaScale(b *testing.B) {
	doc, reports := quotaScale(b)
	cand := candidate5000()
	b.ReportMetric(float64(len(cand)), "candidate-chars")
	var peak uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	b.ReportAllocs()
	var res *Result
	for b.Loop() {
		p, err := scpeval.Parse([]byte(cand))
		if err != nil {
			b.Fatal(err)
		}
		res, err = Evaluate(Input{Policies: doc, Candidate: p, Target: "r-ab12", Days: 90, Reports: reports})
		if err != nil {
			b.Fatal(err)
		}
	}
	close(stop)
	<-done
	b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
	b.ReportMetric(float64(len(res.Entities)), "accounts")
	b.ReportMetric(float64(len(res.Breaks)), "breaks")
}
