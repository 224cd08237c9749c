package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/orgaudit/orgaudit/internal/bench"
	"github.com/orgaudit/orgaudit/internal/orgmodel"
)

func medianDuration(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(bench.Median(xs))
}

// pick returns the runs of one kind and scope.
func pick(rs []runResult, kind string, accounts bool) []runResult {
	var out []runResult
	for _, r := range rs {
		if r.Kind == kind && r.Accounts == accounts {
			out = append(out, r)
		}
	}
	return out
}

func med(rs []runResult, f func(runResult) float64) float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	return bench.Median(xs)
}

func secs(d float64) string { return fmt.Sprintf("%.1f s", d/float64(time.Second)) }

func scopeName(accounts bool) string {
	if accounts {
		return "root + OUs + accounts"
	}
	return "root + OUs"
}

// machine describes this machine in one line.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%d", &kb)
		mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
	}
	kernel := ""
	if b, err := exec.Command("uname", "-r").Output(); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, %d CPUs%s%s, %s %s/%s", model, runtime.NumCPU(), mem, kernel, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func report(w io.Writer, o options, org *orgmodel.Org, results, sanity []runResult, bins []binaryResult) {
	fmt.Fprintf(w, "Measured %s on %s.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), machine())
	fmt.Fprintf(w, "Organization: %d OUs (%d levels), %d accounts; job latency time scale %g; one job at a time; "+
		"IAM %g TPS and Organizations %g TPS real-world, i.e. %g and %g requests/s at this scale; naive poll every %s real-world (%s here). "+
		"Pipeline: %d runs per scope; naive: %d runs without accounts, %d with. Medians.\n\n",
		len(org.OUs), o.depth, len(org.Accounts), o.scale, o.iamTPS, o.orgTPS, o.iamTPS/o.scale, o.orgTPS/o.scale,
		o.naivePoll, time.Duration(float64(o.naivePoll)*o.scale), o.reps, o.naiveReps, o.naiveFullReps)

	if walks := pick(results, "walk", true); len(walks) > 0 {
		fmt.Fprintln(w, "### The organization walk at real-time Organizations rates")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Root, OUs and accounts; the walk at the given rate, not scaled; the jobs at the time scale above. Walk: Start's time, all its invocations; bound: the jobs' time plus the answered Organizations calls at the rate (no job starts before the walk is done).")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| Organizations rate | Calls (throttled) | Start invocations | Transitions | Walk | Walk bound | Whole run | Bound | Ratio |")
		fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, r := range walks {
			fmt.Fprintf(w, "| %g/s | %d (%d) | %d | %d | %s | %s | %s | %s | **%.3f** |\n", r.WalkTPS, r.OrgCalls, r.OrgThrottled,
				1+r.Trace.Walks, r.Trace.Transitions, secs(float64(r.Trace.Billed["Start"])), secs(float64(r.WalkBound)),
				secs(float64(r.Wall)), secs(float64(r.bound())), r.Ratio)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "### Wall time against the lower bound")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Scope | Entities | Job time (sim) | Walk bound | Lower bound | orgaudit wall | orgaudit ratio | naive wall | naive ratio |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, acc := range []bool{false, true} {
		p, n := pick(results, "pipeline", acc), pick(results, "naive", acc)
		if len(p) == 0 {
			continue
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | **%.3f** | %s | **%.3f** |\n", scopeName(acc), p[0].Entities,
			secs(med(p, func(r runResult) float64 { return float64(r.JobTime) })),
			secs(med(p, func(r runResult) float64 { return float64(r.WalkBound) })),
			secs(med(p, func(r runResult) float64 { return float64(r.bound()) })),
			secs(med(p, func(r runResult) float64 { return float64(r.Wall) })),
			med(p, func(r runResult) float64 { return r.Ratio }),
			secs(med(n, func(r runResult) float64 { return float64(r.Wall) })),
			med(n, func(r runResult) float64 { return r.Ratio }))
	}
	for _, acc := range []bool{false, true} {
		p := pick(results, "pipeline", acc)
		var all []string
		for _, r := range p {
			all = append(all, fmt.Sprintf("%.3f", r.Ratio))
		}
		if len(all) > 0 {
			fmt.Fprintf(w, "\nEvery orgaudit ratio, %s: %s.", scopeName(acc), strings.Join(all, ", "))
		}
	}
	fmt.Fprintln(w)
	rttTable(w, o, sanity)
	fmt.Fprintln(w, "\n### State transitions, Lambda time and cost per run")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Scope | Entities | Loop iterations | Transitions | per 1,000 entities | Transitions at real latency (projected) | Step Functions USD | Lambda invocations | GB-s (bench) | GB-s at real latency (est.) | Lambda USD (est.) | Total USD/night |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, acc := range []bool{false, true} {
		p := pick(results, "pipeline", acc)
		if len(p) == 0 {
			continue
		}
		it := med(p, func(r runResult) float64 { return float64(r.Trace.Iterations) })
		tr := med(p, func(r runResult) float64 { return float64(r.Trace.Transitions) })
		req := med(p, func(r runResult) float64 { return float64(r.Trace.Requests()) })
		gbs := med(p, func(r runResult) float64 { return r.Trace.GBSeconds() })
		real := med(p, func(r runResult) float64 { return realGBSeconds(*r.Trace, o.scale) })
		realIt := projectedIterations(int(it), time.Duration(med(p, func(r runResult) float64 { return float64(r.bound()) })/o.scale))
		realTr := bench.Transitions(p[0].Trace.Walks, realIt)
		realReq := float64(1 + 2*realIt)
		sfn, lam := bench.CostUSD(realTr, real, int(realReq))
		fmt.Fprintf(w, "| %s | %d | %.0f | %.0f | %.1f | %d | %.4f | %.0f | %.1f | %.0f | %.4f | %.4f |\n", scopeName(acc), p[0].Entities,
			it, tr, tr/float64(p[0].Entities)*1000, realTr, sfn, req, gbs, real, lam, sfn+lam)
	}

	fmt.Fprintln(w, "\n### IAM calls per job")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Scope | Runner | Generate calls / job | status polls / job | page reads / job | 409 answers | throttled answers |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|")
	for _, acc := range []bool{false, true} {
		for _, kind := range []string{"pipeline", "naive"} {
			rs := pick(results, kind, acc)
			if len(rs) == 0 {
				continue
			}
			r := rs[len(rs)-1] // the last run: no step ran in a child process
			jobs := float64(r.IAM.JobsCreated)
			polls, pages := float64(r.Polls), float64(r.Pages)
			if kind == "naive" {
				pages = float64(r.IAM.GetCalls) - polls
			}
			fmt.Fprintf(w, "| %s | %s | %.3f | %.2f | %.3f | %d | %d |\n", scopeName(acc), kind,
				float64(r.IAM.GenerateCalls)/jobs, polls/jobs, pages/jobs, r.IAM.LimitExceeded, r.Throttled)
		}
	}

	fmt.Fprintln(w, "\n### Memory and manifest at full scope")
	fmt.Fprintln(w)
	for _, r := range pick(results, "rss", true) {
		if len(r.Trace.PeakRSS) == 0 {
			continue
		}
		mem := "the function's own memory size"
		if o.rssMemoryMB > 0 {
			mem = fmt.Sprintf("%d MB", o.rssMemoryMB)
		}
		fmt.Fprintf(w, "%d entities; each measured step ran alone in a child process built like its function (GOMEMLIMIT 80%% of %s).\n\n", r.Entities, mem)
		fmt.Fprintln(w, "| Step | Peak RSS (VmHWM) | Function memory in template.yaml |")
		fmt.Fprintln(w, "|---|---:|---:|")
		for _, fn := range []string{"Start", "Check", "Store"} {
			fmt.Fprintf(w, "| %s | %.1f MiB | %d MB |\n", fn, float64(r.Trace.PeakRSS[fn])/1024, bench.Functions[fn].MemoryMB)
		}
		fmt.Fprintf(w, "\nManifest: %d bytes (%.1f KiB) for %d entities.\n", r.ManifestBytes, float64(r.ManifestBytes)/1024, r.Entities)
		break
	}

	if len(bins) > 0 {
		fmt.Fprintln(w, "\n### Bootstraps")
		fmt.Fprintln(w)
		fmt.Fprintf(w, "| Function | Size (linux/arm64, as deployed) | Size (linux/%s) | Cold start to first answer (median of %d) | Warm invocation (median) |\n", runtime.GOARCH, len(bins[0].ColdStarts))
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
		for _, b := range bins {
			fmt.Fprintf(w, "| %s | %.1f MiB | %.1f MiB | %s | %s |\n", b.Function, float64(b.SizeArm64)/(1<<20), float64(b.SizeHost)/(1<<20),
				medianDuration(b.ColdStarts).Round(100*time.Microsecond), medianDuration(b.Warm).Round(100*time.Microsecond))
		}
	}
}

// realGBSeconds estimates the GB-seconds of the same run at real job
// latency: Check spends its time waiting for jobs, so its time grows with
// them (divided by the time scale); Start and Store do work whose time
// does not depend on the jobs' latency.
func realGBSeconds(t bench.Trace, scale float64) float64 {
	real := t
	real.Billed = map[string]time.Duration{}
	for fn, d := range t.Billed {
		if fn == "Check" {
			d = time.Duration(float64(d) / scale)
		}
		real.Billed[fn] = d
	}
	return real.GBSeconds()
}

// checkBudget is the time a Check invocation works before handing over:
// its 900 s deadline minus the pipeline's margin (10% plus 5 s).
const checkBudget = 805 * time.Second

// projectedIterations is the loop count of the same run at real job
// latency: at least what the bench measured (the Store batch forces it),
// and at least one Check budget per 805 s of job time.
func projectedIterations(measured int, realBound time.Duration) int {
	byTime := int((realBound + checkBudget - 1) / checkBudget)
	return max(measured, byTime)
}

// rttTable prints the realistic-latency rows: per scope and network round
// trip, orgaudit's medians against the lower bound, the idle time of IAM's
// job slot per hand-over, and IAM's calls per job, beside the naive
// script's run.
func rttTable(w io.Writer, o options, sanity []runResult) {
	if len(sanity) == 0 {
		return
	}
	fmt.Fprintf(w, "\n### At IAM's own latency, over a network\n\n")
	fmt.Fprintf(w, "Time scale %g; the simulator delays every request by the round trip (half each way, jitter a quarter of it); orgaudit %d runs per row (medians), the naive script one. "+
		"Slot idle: the time IAM's one job slot sat free between a job's end and the next job's creation, per hand-over (the simulator's count). Calls per job: over the jobs created.\n\n", o.sanityScale, o.sanityReps)
	fmt.Fprintln(w, "| Scope | RTT | Entities | Job time | Lower bound | orgaudit wall | ratio | every ratio | slot idle / job | Generate | 409 | polls | pages | throttled | naive wall | naive ratio |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, acc := range []bool{false, true} {
		for _, rtt := range o.rtts {
			var p, n []runResult
			for _, r := range sanity {
				if r.Accounts == acc && r.RTT == rtt {
					switch r.Kind {
					case "pipeline":
						p = append(p, r)
					case "naive":
						n = append(n, r)
					}
				}
			}
			if len(p) == 0 {
				continue
			}
			var every []string
			for _, r := range p {
				every = append(every, fmt.Sprintf("%.3f", r.Ratio))
			}
			naiveWall, naiveRatio := "not run", ""
			if len(n) > 0 {
				naiveWall = secs(med(n, func(r runResult) float64 { return float64(r.Wall) }))
				naiveRatio = fmt.Sprintf("**%.3f**", med(n, func(r runResult) float64 { return r.Ratio }))
			}
			fmt.Fprintf(w, "| %s | %d ms | %d | %s | %s | %s | **%.3f** | %s | %d ms | %.2f | %.2f | %.2f | %.2f | %.0f | %s | %s |\n",
				scopeName(acc), rtt.Milliseconds(), p[0].Entities,
				secs(med(p, func(r runResult) float64 { return float64(r.JobTime) })),
				secs(med(p, func(r runResult) float64 { return float64(r.bound()) })),
				secs(med(p, func(r runResult) float64 { return float64(r.Wall) })),
				med(p, func(r runResult) float64 { return r.Ratio }), strings.Join(every, ", "),
				time.Duration(med(p, func(r runResult) float64 { return float64(r.idlePerJob()) })).Milliseconds(),
				med(p, func(r runResult) float64 { return r.perJob(int64(r.IAM.GenerateCalls)) }),
				med(p, func(r runResult) float64 { return r.perJob(int64(r.IAM.LimitExceeded)) }),
				med(p, func(r runResult) float64 { return r.perJob(r.Polls) }),
				med(p, func(r runResult) float64 { return r.perJob(r.Pages) }),
				med(p, func(r runResult) float64 { return float64(r.IAMThrottled) }),
				naiveWall, naiveRatio)
		}
	}
}
