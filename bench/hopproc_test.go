package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The overhead benchmarks run each hop (the bare proxy, Runnel) in a
// process of its own, so that its CPU time and resident memory are its own:
// the test binary runs itself with RUNNEL_BENCH_HOP set, serves the hop on a
// free loopback port, and answers /_hop/stats with its figures.
func TestMain(m *testing.M) {
	if kind := os.Getenv("RUNNEL_BENCH_HOP"); kind != "" {
		serveHop(kind, os.Getenv("RUNNEL_BENCH_UPSTREAM"))
		return
	}
	os.Exit(m.Run())
}

// hopStats is what a hop process reports about itself.
type hopStats struct {
	CPUNanos  int64  `json:"cpu_ns"`    // user + system CPU time so far
	RSS       int64  `json:"rss"`       // resident set size, bytes
	LiveBytes uint64 `json:"live"`      // heap after a collection plus goroutine stacks
	Stacks    uint64 `json:"stacks"`    // goroutine stacks alone
	Goroutine int    `json:"goroutine"` // goroutines now
	// Reads and Writes count read and write system calls so far
	// (/proc/self/io).
	Reads, Writes int64
	// Charged is the credits the auth hop's team has paid, -1 while
	// some are held (see authHop).
	Charged int64 `json:"charged,omitempty"`
	// Allocs and GCs count heap allocations and finished collections
	// so far (runtime/metrics: no stop of the world).
	Allocs uint64 `json:"allocs"`
	GCs    uint64 `json:"gcs"`
	// AllocBytes is the heap bytes allocated so far: with few
	// collections in a burst of calls, what the resident set grows by
	// beyond the live heap.
	AllocBytes uint64 `json:"alloc_bytes"`
	// With ?gc, from runtime.MemStats: the heap's spans in use, its free
	// spans not yet returned to the OS (touched once, so resident: what a
	// burst's garbage leaves after a collection), and the stack memory
	// obtained (stacks that grew and shrank keep it).
	HeapInuse uint64 `json:"heap_inuse,omitempty"`
	HeapIdle  uint64 `json:"heap_idle,omitempty"`
	StackSys  uint64 `json:"stack_sys,omitempty"`
	// StartStack is the stack a new goroutine starts with now: the
	// runtime sets it at each collection from the average stack in use
	// (GODEBUG adaptivestackstart).
	StartStack uint64 `json:"start_stack,omitempty"`
	// Sys is what the kernel and the runtime count about the process so
	// far, for the per-token figures of the overhead benchmarks.
	Sys sysStats `json:"sys"`
}

// sysStats are a process's counters that the callgrind figures (one P,
// no collector) do not see: user and system CPU apart, context switches,
// page faults (getrusage), the runtime's own estimates of where its CPU
// went (runtime/metrics' /cpu/classes), goroutines started and
// scheduling events (a goroutine made runnable and then run: a wake-up),
// and OS threads.
type sysStats struct {
	UserNanos, SysNanos int64
	// Voluntary switches are the process's threads blocking (futex,
	// epoll_pwait, nanosleep); involuntary ones preemption by the kernel.
	VCSw, IVCSw    int64
	MinFlt, MajFlt int64
	// The runtime's CPU estimates, in ns: GC (mark assist, dedicated,
	// idle, pause), scavenging, user Go code, idle Ps. The runtime brings
	// them up to date only at each collection, so a run's delta means
	// something only over several.
	GCNanos, ScavengeNanos, UserGoNanos, IdleNanos int64
	GoCreated                                      uint64 // goroutines created
	// Wakeups is /sched/latencies' count: goroutines run after waiting
	// runnable, which the runtime samples on one transition in 8.
	Wakeups      uint64
	Threads      uint64
	HeapReleased uint64 // bytes returned to the OS, now
}

// readSysStats reads this process's sysStats.
func readSysStats() sysStats {
	var s sysStats
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.UserNanos, s.SysNanos = ru.Utime.Nano(), ru.Stime.Nano()
		s.VCSw, s.IVCSw, s.MinFlt, s.MajFlt = ru.Nvcsw, ru.Nivcsw, ru.Minflt, ru.Majflt
	}
	m := []metrics.Sample{
		{Name: "/cpu/classes/gc/total:cpu-seconds"},
		{Name: "/cpu/classes/scavenge/total:cpu-seconds"},
		{Name: "/cpu/classes/user:cpu-seconds"},
		{Name: "/cpu/classes/idle:cpu-seconds"},
		{Name: "/sched/goroutines-created:goroutines"},
		{Name: "/sched/latencies:seconds"},
		{Name: "/sched/threads/total:threads"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	metrics.Read(m)
	ns := func(v metrics.Value) int64 {
		if v.Kind() != metrics.KindFloat64 {
			return 0
		}
		return int64(v.Float64() * 1e9)
	}
	u64 := func(v metrics.Value) uint64 {
		if v.Kind() != metrics.KindUint64 {
			return 0
		}
		return v.Uint64()
	}
	s.GCNanos, s.ScavengeNanos, s.UserGoNanos, s.IdleNanos = ns(m[0].Value), ns(m[1].Value), ns(m[2].Value), ns(m[3].Value)
	s.GoCreated, s.Threads, s.HeapReleased = u64(m[4].Value), u64(m[6].Value), u64(m[7].Value)
	if m[5].Value.Kind() == metrics.KindFloat64Histogram {
		for _, c := range m[5].Value.Float64Histogram().Counts {
			s.Wakeups += c
		}
	}
	return s
}

// allocsAndGCs reads the heap objects and bytes allocated and the
// collections finished so far.
func allocsAndGCs() (allocs, gcs, bytes uint64) {
	m := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(m)
	return m[0].Value.Uint64(), m[1].Value.Uint64(), m[2].Value.Uint64()
}

func serveHop(kind, upstream string) {
	// RUNNEL_BENCH_HOP_HEAP (see BenchmarkOpenStreams) samples every
	// allocation, so that /_hop/heap's profile has every site's bytes.
	if os.Getenv("RUNNEL_BENCH_HOP_HEAP") != "" {
		runtime.MemProfileRate = 1
	}
	var h http.Handler
	var charged func() int64
	stop := func() {}
	switch {
	case kind == "proxy":
		h = proxyHandler(upstream)
	case kind == "runnel":
		h = gatewayHandler(upstream)
	case kind == "runnel-anthropic":
		h = gatewayAnthropicHandler(upstream)
	case kind == "runnel-dialects":
		h = gatewayDialectsHandler(upstream)
	case strings.HasPrefix(kind, "auth-"):
		var key string
		var err error
		if h, key, charged, stop, err = authHop(strings.TrimPrefix(kind, "auth-"), upstream); err != nil {
			fmt.Fprintln(os.Stderr, kind, err)
			os.Exit(1)
		}
		if key != "" {
			fmt.Println("key", key)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown hop", kind)
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_hop/stats", func(w http.ResponseWriter, r *http.Request) {
		s := hopStats{CPUNanos: int64(cpuTime()), RSS: rss(), Goroutine: runtime.NumGoroutine()}
		s.Reads, s.Writes = syscalls()
		s.Allocs, s.GCs, s.AllocBytes = allocsAndGCs()
		s.Sys = readSysStats()
		ss := []metrics.Sample{{Name: "/gc/stack/starting-size:bytes"}}
		if metrics.Read(ss); ss[0].Value.Kind() == metrics.KindUint64 {
			s.StartStack = ss[0].Value.Uint64()
		}
		if charged != nil {
			s.Charged = charged()
		}
		if r.URL.Query().Has("gc") {
			s.LiveBytes = uint64(liveMemory())
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			s.Stacks = m.StackInuse
			s.HeapInuse, s.HeapIdle, s.StackSys = m.HeapInuse, m.HeapIdle-m.HeapReleased, m.StackSys
		}
		json.NewEncoder(w).Encode(s)
	})
	// The heap profile after a collection: what is live, by allocation site.
	mux.HandleFunc("GET /_hop/heap", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		pprof.Lookup("heap").WriteTo(w, 0)
	})
	// A collection, then none: what the stacks measure from here is
	// Runnel's and net/http's own depth, not the collector's. Under a
	// sweep the allocator's slow path (a sync.Pool's first Get after a
	// collection emptied it, a span refilled with sweep credit) runs
	// 2-3 KiB deeper wherever it lands: on a loaded machine that
	// crashed TestStreamStacksStayAt8KiB now and then on base and branch
	// alike (a WebSocket's upgrade writing its headers).
	mux.HandleFunc("POST /_hop/gcoff", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC() // and its sweep
		debug.SetGCPercent(-1)
	})
	// From here on, a goroutine whose stack would outgrow bytes crashes
	// the hop (see TestStreamStacksStayAt8KiB).
	mux.HandleFunc("POST /_hop/maxstack", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("bytes"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		debug.SetMaxStack(n)
	})
	mux.Handle("/", h)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("listening", ln.Addr())
	// RUNNEL_BENCH_HOP_PROFILE=DIR writes each hop's CPU profile to
	// DIR/KIND.prof.
	stopProfile := func() {}
	if dir := os.Getenv("RUNNEL_BENCH_HOP_PROFILE"); dir != "" {
		f, err := os.Create(filepath.Join(dir, kind+".prof"))
		if err == nil && pprof.StartCPUProfile(f) == nil {
			stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
		}
	}
	// The parent closes stdin (or dies) to stop the hop.
	go func() {
		io.Copy(io.Discard, os.Stdin)
		stopProfile()
		stop()
		os.Exit(0)
	}()
	http.Serve(ln, mux)
}

// rss is this process's resident set size, from /proc/self/status.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// syscalls returns this process's read and write system calls so far.
func syscalls() (reads, writes int64) {
	b, _ := os.ReadFile("/proc/self/io")
	for line := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ": ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "syscr":
			reads = n
		case "syscw":
			writes = n
		}
	}
	return reads, writes
}

// hopProc is a running hop process.
type hopProc struct {
	URL   string
	Key   string // the API key an auth hop printed, or ""
	stdin io.Closer
	cmd   *exec.Cmd
}

// startHop starts a hop process of kind in front of upstream; it is
// stopped when tb ends.
func startHop(tb testing.TB, kind, upstream string) *hopProc {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	return startHopFrom(tb, exe, kind, upstream)
}

// startHopFrom is startHop with the hop served by the bench test binary
// exe, which may be another tree's.
func startHopFrom(tb testing.TB, exe, kind, upstream string) *hopProc {
	tb.Helper()
	cmd := exec.Command(exe)
	// RUNNEL_BENCH_HOP_WRAP runs each hop under a command, e.g.
	// "valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p" (with
	// GODEBUG=asyncpreemptoff=1, which callgrind's signal handling needs)
	// for instruction counts, which a noisy machine does not change.
	if wrap := strings.Fields(os.Getenv("RUNNEL_BENCH_HOP_WRAP")); len(wrap) > 0 {
		cmd = exec.Command(wrap[0], append(wrap[1:], exe)...)
	}
	cmd.Env = append(os.Environ(), "RUNNEL_BENCH_HOP="+kind, "RUNNEL_BENCH_UPSTREAM="+upstream)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	p := &hopProc{stdin: stdin, cmd: cmd}
	tb.Cleanup(p.stop)
	rd := bufio.NewReader(out)
	line, err := rd.ReadString('\n')
	if k, ok := strings.CutPrefix(strings.TrimSpace(line), "key "); ok {
		p.Key = k
		line, err = rd.ReadString('\n')
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		tb.Fatalf("%s hop did not start: %q %v", kind, line, err)
	}
	p.URL = "http://" + addr
	return p
}

func (p *hopProc) stop() {
	p.stdin.Close()
	p.cmd.Wait()
}

// saveHeap writes the hop's heap profile to path.
func (p *hopProc) saveHeap(tb testing.TB, path string) {
	tb.Helper()
	resp, err := http.Get(p.URL + "/_hop/heap")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		tb.Fatal(err)
	}
}

// waitIdle returns once every thread of the hop has slept at one
// moment: two scans of /proc/PID/task in a row find each thread asleep
// with the same context switch counts, so none of them ran in between.
// An idle hop has made every system call its input so far asked for
// (a read that found nothing has parked in the poller), so the calls it
// makes on its next input do not depend on how soon that comes. The
// runtime's background threads wake now and then; a scan that catches
// one starts over. ctx is a deadlock guard only.
func (p *hopProc) waitIdle(ctx context.Context) error {
	dir := fmt.Sprintf("/proc/%d/task", p.cmd.Process.Pid)
	prev := ""
	for {
		scan, err := threadsAsleep(dir)
		if err != nil {
			return err
		}
		if scan != "" && scan == prev {
			return nil
		}
		prev = scan
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("the hop never went idle: %w", err)
		}
		time.Sleep(20 * time.Microsecond)
	}
}

// threadsAsleep lists the threads in dir (/proc/PID/task) with their
// voluntary and involuntary context switches, or returns "" if one of
// them is not asleep (running, runnable, or gone meanwhile).
func threadsAsleep(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, e := range ents {
		st, err := os.ReadFile(filepath.Join(dir, e.Name(), "status"))
		if err != nil {
			return "", nil // a thread that exited meanwhile
		}
		b.WriteString(e.Name())
		for line := range strings.Lines(string(st)) {
			k, v, _ := strings.Cut(line, ":")
			switch k {
			case "State":
				if !strings.HasPrefix(strings.TrimSpace(v), "S") {
					return "", nil
				}
			case "voluntary_ctxt_switches", "nonvoluntary_ctxt_switches":
				b.WriteString(" " + strings.TrimSpace(v))
			}
		}
		b.WriteString(";")
	}
	return b.String(), nil
}

// stats asks the hop for its figures; gc also collects and reports the
// live heap and stacks.
func (p *hopProc) stats(tb testing.TB, gc bool) hopStats {
	tb.Helper()
	u := p.URL + "/_hop/stats"
	if gc {
		u += "?gc"
	}
	resp, err := http.Get(u)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var s hopStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		tb.Fatal(err)
	}
	return s
}

// traceSyscalls counts the hop's system calls by kind with perf's
// syscalls:sys_enter_* tracepoints (software events, so counted under
// any load) until the returned function is called, which returns the
// counts (nil when perf could not attach). Threads the hop starts later
// are counted too (perf inherits).
func (p *hopProc) traceSyscalls(tb testing.TB) (stop func() map[string]int64) {
	tb.Helper()
	out := filepath.Join(tb.TempDir(), "perf.csv")
	cmd := exec.Command("perf", "stat", "-x,", "-o", out, "-e", "syscalls:sys_enter_*", "-p", strconv.Itoa(p.cmd.Process.Pid))
	if err := cmd.Start(); err != nil {
		tb.Log("perf:", err)
		return func() map[string]int64 { return nil }
	}
	// perf gives no sign that it has attached; 360 tracepoints on each of
	// the hop's threads take it well under this.
	time.Sleep(time.Second)
	return func() map[string]int64 {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		b, err := os.ReadFile(out)
		if err != nil {
			tb.Log("perf:", err)
			return nil
		}
		counts := map[string]int64{}
		for line := range strings.Lines(string(b)) {
			f := strings.Split(line, ",")
			if len(f) < 3 {
				continue
			}
			name, ok := strings.CutPrefix(f[2], "syscalls:sys_enter_")
			n, err := strconv.ParseInt(f[0], 10, 64)
			if ok && err == nil && n > 0 {
				counts[name] = n
			}
		}
		return counts
	}
}

// perToken sums up what a hop's process did between s0 and s1 over
// tokens output tokens and calls calls, in one log line.
func perToken(s0, s1 hopStats, tokens, calls int) string {
	a, z, t := s0.Sys, s1.Sys, float64(max(tokens, 1))
	us := func(d int64) float64 { return float64(d) / 1e3 / t }
	return fmt.Sprintf("user %.2f sys %.2f µs/token (runtime's estimates, as of the last GC: Go %.2f, GC %.2f, scavenge %.2f, idle Ps %.2f); per token %.3f voluntary and %.3f involuntary switches, %.2f wake-ups (8 × sampled), %.4f page faults; per call %.2f goroutines, %.3f GCs; %d threads, %d goroutines, %.1f MiB released",
		us(z.UserNanos-a.UserNanos), us(z.SysNanos-a.SysNanos),
		us(z.UserGoNanos-a.UserGoNanos), us(z.GCNanos-a.GCNanos), us(z.ScavengeNanos-a.ScavengeNanos), us(z.IdleNanos-a.IdleNanos),
		float64(z.VCSw-a.VCSw)/t, float64(z.IVCSw-a.IVCSw)/t, 8*float64(z.Wakeups-a.Wakeups)/t, float64(z.MinFlt+z.MajFlt-a.MinFlt-a.MajFlt)/t,
		float64(z.GoCreated-a.GoCreated)/float64(max(calls, 1)), float64(s1.GCs-s0.GCs)/float64(max(calls, 1)),
		z.Threads, s1.Goroutine, float64(z.HeapReleased)/(1<<20))
}

// syscallMix is counts per token, most frequent first, those at 0.001 a
// token or more.
func syscallMix(counts map[string]int64, tokens int) string {
	type kv struct {
		k string
		n int64
	}
	var all []kv
	for k, n := range counts {
		all = append(all, kv{k, n})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].k < all[j].k })
	var b strings.Builder
	var total int64
	for _, e := range all {
		total += e.n
	}
	fmt.Fprintf(&b, "%.3f a token:", float64(total)/float64(max(tokens, 1)))
	for _, e := range all {
		if per := float64(e.n) / float64(max(tokens, 1)); per >= 0.001 {
			fmt.Fprintf(&b, " %s %.3f", e.k, per)
		}
	}
	return b.String()
}

// hopRatios is the second hop's figures per token over the first's, for
// the same run: CPU (user, system), context switches and wake-ups.
func hopRatios(p, r [2]hopStats, pTokens, rTokens int) string {
	ratio := func(f func(hopStats) float64) float64 {
		den := (f(p[1]) - f(p[0])) / float64(max(pTokens, 1))
		if den == 0 {
			return 0
		}
		return (f(r[1]) - f(r[0])) / float64(max(rTokens, 1)) / den
	}
	return fmt.Sprintf("CPU %.2f (user %.2f, system %.2f), voluntary switches %.2f, involuntary %.2f, wake-ups %.2f",
		ratio(func(s hopStats) float64 { return float64(s.CPUNanos) }),
		ratio(func(s hopStats) float64 { return float64(s.Sys.UserNanos) }),
		ratio(func(s hopStats) float64 { return float64(s.Sys.SysNanos) }),
		ratio(func(s hopStats) float64 { return float64(s.Sys.VCSw) }),
		ratio(func(s hopStats) float64 { return float64(s.Sys.IVCSw) }),
		ratio(func(s hopStats) float64 { return float64(s.Sys.Wakeups) }))
}

// callgrind sends a hop run under callgrind (RUNNEL_BENCH_HOP_WRAP)
// callgrind_control's option op: -z zeroes its counts, -d dumps them to a
// file of their own (the out file's name with a part number), so that a
// dump holds one run's instructions and nothing of the hop's start.
// Without callgrind it does nothing.
func (p *hopProc) callgrind(tb testing.TB, op string) {
	tb.Helper()
	if !strings.Contains(os.Getenv("RUNNEL_BENCH_HOP_WRAP"), "callgrind") {
		return
	}
	if out, err := exec.Command("callgrind_control", op, strconv.Itoa(p.cmd.Process.Pid)).CombinedOutput(); err != nil {
		tb.Logf("callgrind_control %s: %v: %s", op, err, out)
	}
}
