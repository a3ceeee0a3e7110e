package model

import (
	"fmt"
	"math"

	"github.com/runnel/runnel/engine/ggml"
	"github.com/runnel/runnel/engine/kernels"
)

// Entry is one token of one sequence in a batch step.
type Entry struct {
	Seq   *Sequence
	Token int
	// WantLogits asks for the next-token logits after this token. Step
	// then points Logits at them; they are valid until the next Step.
	WantLogits bool
	Logits     []float32
}

// Batch holds the activations of one step for up to Cap entries. It is
// reused from step to step and is not safe for concurrent use.
type Batch struct {
	m   *Model
	cap int

	x, xb, xb2 []float32   // entry × dim
	q, ao      []float32   // entry × heads·headSize: queries, attention output
	k, v       []float32   // entry × kvDim
	hb, hb2    []float32   // entry × hidden
	moe        *moeBuf     // for models with a mixture of experts
	att        []float32   // entry × heads × seqLen
	pos        []int       // entry → position
	lx, logits []float32   // logit rows × dim, × vocab
	cos, sin   [][]float32 // per rope table, entry × headSize/2: RoPE at the entry's position
	// The products' inputs, each quantized once for all the products
	// that take it (q, k and v; gate and up).
	in, aoIn, hbIn kernels.Acts
	blocks         [][2]int // attention's query blocks: entries [i0, i1) of one sequence

	// The pool's functions, made once (a closure per call would be an
	// allocation a layer), and what they work on in the current call.
	headsFn, blocksFn, gateFn, ropeFn, anglesFn func(lo, hi int)
	entries                                     []Entry
	layer                                       int
	gateF                                       func(a, b []float32)
	gateTotal                                   int
	// RoPE for the current layer, and whether attention's units rotate
	// and store their own heads (see attention).
	rotate           func(vec, cos, sin []float32, hs int)
	ropeCos, ropeSin []float32
	prep             bool
}

// NewBatch allocates activations for steps of up to capacity entries.
func (m *Model) NewBatch(capacity int) *Batch {
	if capacity < 1 {
		capacity = 1
	}
	d, h, kv, qd := m.Dim, m.HiddenDim, m.KVDim(), m.QDim()
	n := capacity
	b := &Batch{
		m: m, cap: n,
		x: make([]float32, n*d), xb: make([]float32, n*d), xb2: make([]float32, n*d),
		q: make([]float32, n*qd), ao: make([]float32, n*qd),
		k: make([]float32, n*kv), v: make([]float32, n*kv),
		hb: make([]float32, n*h), hb2: make([]float32, n*h),
		att: make([]float32, n*m.Heads*m.SeqLen), pos: make([]int, n),
		lx: make([]float32, n*d), logits: make([]float32, n*m.VocabSize),
		moe: newMoEBuf(m, n),
	}
	b.headsFn, b.blocksFn, b.gateFn, b.ropeFn, b.anglesFn = b.headRows, b.blockRows, b.gateRows, b.ropeRows, b.angles
	for range m.ropes {
		b.cos = append(b.cos, make([]float32, n*m.RotDim()/2))
		b.sin = append(b.sin, make([]float32, n*m.RotDim()/2))
	}
	return b
}

// Cap is the most entries a Step takes.
func (b *Batch) Cap() int { return b.cap }

// Step runs the transformer over entries: each entry's token is processed
// at its sequence's next position, and the sequence advances. Entries of
// the same sequence must be consecutive and in order (a prompt prefill);
// entries of different sequences are independent (a decode step).
func (b *Batch) Step(entries []Entry) error {
	m := b.m
	n := len(entries)
	if n > b.cap {
		return fmt.Errorf("model: %d entries in a batch of capacity %d", n, b.cap)
	}
	// Assign positions, checking every entry before changing any state.
	for i := range entries {
		e := &entries[i]
		if e.Seq == nil || e.Seq.m != m {
			return fmt.Errorf("model: entry %d has no sequence of this model", i)
		}
		if e.Token < 0 || e.Token >= m.VocabSize {
			return fmt.Errorf("model: token %d out of range [0, %d)", e.Token, m.VocabSize)
		}
		p := e.Seq.pos
		if i > 0 && entries[i-1].Seq == e.Seq {
			p = b.pos[i-1] + 1
		}
		if p >= m.SeqLen {
			return fmt.Errorf("model: sequence is full (context length %d)", m.SeqLen)
		}
		b.pos[i] = p
		e.Logits = nil
	}
	if n == 0 {
		return nil
	}
	// Keep the kernels' workers spinning from one product to the next for
	// the whole pass: an unheld pool parks them as soon as a product ends,
	// and a layer's ~8 products would each pay a wake-up (tens of µs, more
	// than a 15M decode product). The engine's scheduler also holds it
	// across steps; this covers any other caller, such as BenchmarkShapes.
	var hold kernels.Hold
	hold.Acquire()
	defer hold.Release()
	d, kv, qd := m.Dim, m.KVDim(), m.QDim()
	half := m.RotDim() / 2
	for i, e := range entries {
		if err := m.embedding(b.x[i*d:(i+1)*d], e.Token); err != nil {
			return err
		}
	}
	// The entries' rotations (a prompt's thousands of sines and cosines,
	// in float64) on the pool, where there are enough of them.
	if parallelRope {
		parallelRows(n, n*half*len(m.ropes)*trigWork, b.anglesFn)
	} else {
		b.angles(0, n)
	}
	if m.embedScale != 0 {
		scale(b.x[:n*d], m.embedScale)
	}
	rotate := rope
	if m.neox {
		rotate = ropeNeox
	}
	for l := range m.blocks {
		blk := &m.blocks[l]
		in := b.norm(b.xb, b.x, blk.attnNorm, n)
		b.in.Set(in, n)
		// One job for the three products: one wait for the pool's
		// helpers instead of three (a 15M decode step is ~50 of them).
		kernels.MatMulActsFused(&b.in, [3][]float32{b.q[:n*qd], b.k[:n*kv], b.v[:n*kv]}, [3]*kernels.Matrix{blk.wq, blk.wk, blk.wv})
		addBias(b.q[:n*qd], blk.bq)
		addBias(b.k[:n*kv], blk.bk)
		addBias(b.v[:n*kv], blk.bv)
		b.normHeads(b.q[:n*qd], blk.qNorm)
		b.normHeads(b.k[:n*kv], blk.kNorm)
		b.entries, b.layer = entries, l
		b.rotate, b.ropeCos, b.ropeSin = rotate, b.cos[blk.rope], b.sin[blk.rope]
		if !b.attention() {
			// Attention's units could not rotate and store their own
			// heads (see attention): do it for all before it, the
			// caches grown first, serially, and then the entries
			// spread over the pool (a prompt's 128 entries were a
			// serial stretch of each layer, the helpers waiting).
			for i, e := range entries {
				e.Seq.reserve(l, b.pos[i])
			}
			if parallelRope {
				parallelRows(n, n*(qd+kv)*ropeWork, b.ropeFn)
			} else {
				b.ropeRows(0, n)
			}
			b.attend()
		}
		b.entries = nil
		b.aoIn.Set(b.ao[:n*qd], n)
		kernels.MatMulActs(b.xb2[:n*d], blk.wo, &b.aoIn)
		addBias(b.xb2[:n*d], blk.bo)
		b.residual(b.xb2, blk.postAttnNorm, n)

		in = b.norm(b.xb, b.x, blk.ffnNorm, n)
		b.residual(b.feedForward(blk, in, n), blk.postFFNNorm, n)
	}
	// Only the rows that want logits go through the classifier, which for
	// a large vocabulary is the biggest matrix of all.
	nl := 0
	for i, e := range entries {
		if e.WantLogits {
			kernels.RMSNorm(b.lx[nl*d:(nl+1)*d], b.x[i*d:(i+1)*d], m.norm, m.NormEps)
			nl++
		}
	}
	if nl > 0 {
		V := m.VocabSize
		logits := b.logits[:nl*V]
		kernels.MatMulTiled(logits, m.output, b.lx[:nl*d], nl)
		if m.logitScale != 0 {
			scale(logits, 1/m.logitScale)
		}
		if m.finalSoftcap != 0 {
			softcap(logits, m.finalSoftcap)
		}
		j := 0
		for i := range entries {
			if entries[i].WantLogits {
				entries[i].Logits = b.logits[j*V : (j+1)*V : (j+1)*V]
				j++
			}
		}
	}
	for i := range entries {
		entries[i].Seq.pos = b.pos[i] + 1
	}
	return nil
}

// angles fills the RoPE tables' rows (cos and sin at the entry's
// position, per rotation table) of entries [i0, i1) of the current step.
func (b *Batch) angles(i0, i1 int) {
	half := b.m.RotDim() / 2
	for i := i0; i < i1; i++ {
		for r, t := range b.m.ropes {
			for j, f := range t.freq {
				val := float32(b.pos[i]) * f
				c, s := float32(math.Cos(float64(val))), float32(math.Sin(float64(val)))
				if t.mscale != 0 {
					c, s = c*t.mscale, s*t.mscale
				}
				b.cos[r][i*half+j], b.sin[r][i*half+j] = c, s
			}
		}
	}
}

// trigWork is a RoPE angle's cost in the pool's units (multiply-adds): a
// float64 sine and cosine, their reductions and polynomials.
const trigWork = 48

// ropeStore rotates entry i's query heads and key heads of KV heads
// [g0, g1) by RoPE at its position, and stores those keys and values in
// its sequence's cache (grown beforehand, see Sequence.reserve). Heads
// are rotated one by one, so a head's bits are the same whatever range
// it is rotated in.
func (b *Batch) ropeStore(i, g0, g1, layer int) {
	m := b.m
	hs, qd, kv, half := m.HeadSize(), m.QDim(), m.KVDim(), m.RotDim()/2
	group := m.Heads / m.KVHeads
	c, s := b.ropeCos[i*half:(i+1)*half], b.ropeSin[i*half:(i+1)*half]
	b.rotate(b.q[i*qd+g0*group*hs:i*qd+g1*group*hs], c, s, hs)
	k := b.k[i*kv+g0*hs : i*kv+g1*hs]
	b.rotate(k, c, s, hs)
	b.entries[i].Seq.store(layer, b.pos[i], g0, k, b.v[i*kv+g0*hs:i*kv+g1*hs])
}

// ropeRows rotates and stores entries [i0, i1) of the current call (see
// ropeStore), all their heads.
func (b *Batch) ropeRows(i0, i1 int) {
	for i := i0; i < i1; i++ {
		b.ropeStore(i, 0, b.m.KVHeads, b.layer)
	}
}

// parallelRope spreads the rotations and stores that attention's units do
// not do (a prompt's), and the step's RoPE angles, over the pool; only
// benchmarks turn it off, to compare in one process.
var parallelRope = true

// ropeWork is a rotated value's cost in the pool's units (multiply-adds):
// a pair's four multiplies and two adds, and the store's copy.
const ropeWork = 4

// feedForward returns the block's feed-forward output for the n rows of
// in: the gated product (SiLU or GELU), or the mixture of experts.
func (b *Batch) feedForward(blk *block, in []float32, n int) []float32 {
	m := b.m
	d, hd := m.Dim, m.HiddenDim
	if blk.moe != nil {
		blk.moe.forward(b.moe, b.xb2, in, n, d)
		return b.xb2
	}
	b.in.Set(in, n)
	f := kernels.SiLUMul
	if m.gelu {
		f = geluMul
	}
	// Gate, up and the activation in one job where that gives the same
	// bits (kernels.MatMulActsGated), else one after another.
	if !kernels.MatMulActsGated(b.hb[:n*hd], blk.gate, b.hb2[:n*hd], blk.upProj, &b.in, f) {
		kernels.MatMulActs(b.hb[:n*hd], blk.gate, &b.in)
		kernels.MatMulActs(b.hb2[:n*hd], blk.upProj, &b.in)
		b.gateMul(n)
	}
	b.hbIn.Set(b.hb[:n*hd], n)
	kernels.MatMulActs(b.xb[:n*d], blk.down, &b.hbIn)
	return b.xb
}

// gateMul applies the feed-forward's gate to the n rows of hb (times
// hb2), spread over the worker pool in spans of gateSpan values: each
// value costs an exponential (or a table lookup), which for a step of
// several sequences, or one wide layer, is more than the pool's hand-off,
// and on the caller alone it would leave the other cores idle between the
// products. Values are independent, so the split changes no result.
func (b *Batch) gateMul(n int) {
	total := n * b.m.HiddenDim
	b.gateF, b.gateTotal = kernels.SiLUMul, total
	if b.m.gelu {
		b.gateF = geluMul
	}
	parallelRows((total+gateSpan-1)/gateSpan, total*gateWork, b.gateFn)
	b.gateF = nil
}

// gateRows gates the spans [s0, s1) of gateSpan values.
func (b *Batch) gateRows(s0, s1 int) {
	lo, hi := s0*gateSpan, min(s1*gateSpan, b.gateTotal)
	b.gateF(b.hb[lo:hi], b.hb2[lo:hi])
}

const (
	gateSpan = 256
	// gateWork is a value's cost in the pool's units (multiply-adds):
	// expf's reduction and polynomial, about sixteen.
	gateWork = 16
)

// norm returns the n rows of x normalised by w into dst, or x itself
// when the block has no norm there (OLMo 2 normalises after, not before).
func (b *Batch) norm(dst, x, w []float32, n int) []float32 {
	d := b.m.Dim
	if w == nil {
		return x[:n*d]
	}
	for i := 0; i < n; i++ {
		kernels.RMSNorm(dst[i*d:(i+1)*d], x[i*d:(i+1)*d], w, b.m.NormEps)
	}
	return dst[:n*d]
}

// residual adds a sub-layer's n output rows y to the residual stream x,
// after its post-norm and residual scale if the model has them.
func (b *Batch) residual(y, postNorm []float32, n int) {
	m := b.m
	d := m.Dim
	y = y[:n*d]
	if postNorm != nil {
		for i := 0; i < n; i++ {
			kernels.RMSNorm(y[i*d:(i+1)*d], y[i*d:(i+1)*d], postNorm, m.NormEps)
		}
	}
	if m.residualScale != 0 {
		scale(y, m.residualScale)
	}
	add(b.x[:n*d], y)
}

// normHeads RMS-normalises queries or keys in place: each head by w when
// w is one head wide (Qwen3, Gemma 3), each whole row otherwise (OLMo 2).
func (b *Batch) normHeads(x, w []float32) {
	if w == nil {
		return
	}
	for i := 0; i+len(w) <= len(x); i += len(w) {
		kernels.RMSNorm(x[i:i+len(w)], x[i:i+len(w)], w, b.m.NormEps)
	}
}

// addBias adds bias to every row of x.
func addBias(x, bias []float32) {
	if bias == nil {
		return
	}
	for i := 0; i+len(bias) <= len(x); i += len(bias) {
		add(x[i:i+len(bias)], bias)
	}
}

func (m *Model) embedding(dst []float32, token int) error {
	e := m.embed
	if e.Type == ggml.F32 {
		copy(dst, e.F32[token*m.Dim:(token+1)*m.Dim])
		return nil
	}
	rowBytes := len(e.Data) / e.Rows
	return kernels.Dequantize(dst, e.Type, e.Data[token*rowBytes:(token+1)*rowBytes])
}

// attention computes, for every entry and head, softmax(q·K/√hs)·V over
// the entry's sequence up to its position (or the layer's window of it),
// into ao. Consecutive entries of one sequence (a prompt) go in blocks of
// up to queryBlock queries that walk the keys and values together, tile
// by tile, each query stopping at its own position (causal). A unit of
// work is one block's head: the units of all sequences of the step are
// spread over the worker pool together.
//
// Where every sequence of the step is one block (decode steps) and heads
// are large, each unit first rotates and stores its own KV head's queries,
// key and value, which nothing else reads: the step then has no serial
// stretch between the products and attention, where the pool's helpers
// would wait. It reports false, having done nothing, when the caller must
// rotate and store first and then call attend.
func (b *Batch) attention() bool {
	m, entries := b.m, b.entries
	n := len(entries)
	if m.HeadSize() < smallHead {
		return false
	}
	b.blocks = b.blocks[:0]
	prep := unitsRotate
	for i := 0; i < n; {
		j := i + 1
		for j < n && j-i < queryBlock && entries[j].Seq == entries[i].Seq {
			j++
		}
		if j < n && entries[j].Seq == entries[i].Seq {
			prep = false // the sequence's next block reads this one's keys
		}
		b.blocks = append(b.blocks, [2]int{i, j})
		i = j
	}
	if !prep {
		return false
	}
	for i, e := range entries {
		e.Seq.reserve(b.layer, b.pos[i])
	}
	b.prep = true
	b.attend()
	b.prep = false
	return true
}

// attend runs attention's units for b.entries at b.layer on the pool (see
// attention): in the blocks that attention made, or a head each for
// small heads.
func (b *Batch) attend() {
	m := b.m
	n, heads := len(b.entries), m.Heads
	// The estimate is in the products' units (AVX-512 multiply-adds);
	// attention's are scalar Go loops for small heads and short calls
	// for the others, several times dearer each, so it is scaled up:
	// stories260K's eight heads then split across cores from the first
	// positions instead of from position 255.
	work := 0
	for i := 0; i < n; i++ {
		work += (b.pos[i] + 1) * m.QDim() * 2 * 8
	}
	if m.HeadSize() < smallHead {
		parallelRows(n*heads, work, b.headsFn)
		return
	}
	parallelRows(len(b.blocks)*m.KVHeads, work, b.blocksFn)
}

// headRows computes attention units [r0, r1) of the current call: an
// entry's head each.
func (b *Batch) headRows(r0, r1 int) {
	heads := b.m.Heads
	for r := r0; r < r1; r++ {
		b.head(b.entries[r/heads].Seq, r/heads, r%heads, b.layer)
	}
}

// blockRows computes attention units [r0, r1) of the current call: a
// query block's KV head each.
func (b *Batch) blockRows(r0, r1 int) {
	kvh := b.m.KVHeads
	if prefetchUnits {
		b.prefetchUnit(r0)
	}
	for r := r0; r < r1; r++ {
		if prefetchUnits && r+1 < r1 {
			b.prefetchUnit(r + 1)
		}
		blk := b.blocks[r/kvh]
		if b.prep {
			for i := blk[0]; i < blk[1]; i++ {
				b.ropeStore(i, r%kvh, r%kvh+1, b.layer)
			}
		}
		b.blockHead(b.entries[blk[0]].Seq, blk[0], blk[1], r%kvh, b.layer)
	}
}

// prefetchUnits and unitsRotate turn prefetchUnit and the units' own
// RoPE and stores (see attention) on; only benchmarks turn them off, to
// compare in one process.
var prefetchUnits, unitsRotate = true, true

// prefetchUnit asks for the keys and values that attention unit r (a
// query block's KV head) reads: at 8 streams the sequences' caches no
// longer stay in the core's cache from one step to the next, and a
// unit's tiles start new pages where the hardware prefetcher stops.
func (b *Batch) prefetchUnit(r int) {
	m := b.m
	kvh, hs := m.KVHeads, m.HeadSize()
	blk := b.blocks[r/kvh]
	g, s := r%kvh, b.entries[blk[0]].Seq
	start, end := b.pos[blk[0]], b.pos[blk[1]-1]+1
	if w := m.blocks[b.layer].window; w > 0 && start >= w {
		start = start - w + 1
	} else {
		start = 0
	}
	keys, values := s.key[b.layer], s.value[b.layer]
	for k0 := start / keyTile * keyTile; k0 < end; k0 += keyTile {
		lo, hi := max(k0, start)-k0, min(k0+keyTile, end)-k0
		o := m.kvTile(k0/keyTile, g)
		kernels.Prefetch(keys[o+lo*hs : o+hi*hs])
		kernels.Prefetch(values[o+lo*hs : o+hi*hs])
	}
}

// queryBlock is the most queries that share a walk over the keys, and
// keyTile the keys and values a walk's step takes: a tile of a head's
// keys (64 × 128 floats at most) stays in cache for the block's queries.
const (
	queryBlock = 8
	keyTile    = 64
)

// blockHead computes, for entries [i0, i1) (consecutive positions of
// sequence s), every query head that reads KV head g, tile by tile: a
// tile of g's keys or values is read from memory once for all the
// block's queries and the group's heads (grouped-query attention shares
// a KV head among several), and stays in cache meanwhile. DotRows and
// AxpyRows give each row the same bits in any tile, so every query's
// result is the one it gets alone.
func (b *Batch) blockHead(s *Sequence, i0, i1, g, layer int) {
	m := b.m
	hs, qd, seqLen := m.HeadSize(), m.QDim(), m.SeqLen
	group := m.Heads / m.KVHeads
	h0, h1 := g*group, (g+1)*group
	keys, values := s.key[layer], s.value[layer]
	scale := float32(1 / math.Sqrt(float64(hs)))
	if m.attnScale != 0 {
		scale = m.attnScale
	}
	// first sees positions first … pos: a sliding window of w sees
	// pos-w+1 … pos, as llama.cpp's mask does (it hides a key when
	// pos - keyPos >= w).
	w := m.blocks[layer].window
	first := func(pos int) int {
		if w > 0 && pos >= w {
			return pos - w + 1
		}
		return 0
	}
	// att(i, h) is entry i's row of scores for head h, indexed by key
	// position; q and out are its query and output.
	att := func(i, h int) []float32 { return b.att[(i*m.Heads+h)*seqLen : (i*m.Heads+h+1)*seqLen] }
	q := func(i, h int) []float32 { return b.q[i*qd+h*hs : i*qd+(h+1)*hs] }
	out := func(i, h int) []float32 { return b.ao[i*qd+h*hs : i*qd+(h+1)*hs] }
	start, end := first(b.pos[i0]), b.pos[i1-1]+1
	// Tiles are aligned to keyTile positions, as the cache stores them.
	for k0 := start / keyTile * keyTile; k0 < end; k0 += keyTile {
		k1 := min(k0+keyTile, end)
		kt := keys[m.kvTile(k0/keyTile, g):]
		for i := i0; i < i1; i++ {
			lo, hi := max(k0, first(b.pos[i])), min(k1, b.pos[i]+1)
			if lo < hi {
				for h := h0; h < h1; h++ {
					kernels.DotRows(att(i, h)[lo:hi], q(i, h), kt[(lo-k0)*hs:], hs)
				}
			}
		}
	}
	for i := i0; i < i1; i++ {
		for h := h0; h < h1; h++ {
			a := att(i, h)[first(b.pos[i]) : b.pos[i]+1]
			if m.attnSoftcap != 0 {
				for t := range a {
					a[t] *= scale
				}
				softcap(a, m.attnSoftcap)
				kernels.Softmax(a)
			} else {
				kernels.ScaledSoftmax(a, scale)
			}
			clear(out(i, h))
		}
	}
	for k0 := start / keyTile * keyTile; k0 < end; k0 += keyTile {
		k1 := min(k0+keyTile, end)
		vt := values[m.kvTile(k0/keyTile, g):]
		for i := i0; i < i1; i++ {
			lo, hi := max(k0, first(b.pos[i])), min(k1, b.pos[i]+1)
			if lo < hi {
				for h := h0; h < h1; h++ {
					kernels.AxpyRows(out(i, h), att(i, h)[lo:hi], vt[(lo-k0)*hs:], hs)
				}
			}
		}
	}
}

// head computes head h of entry i alone, for small heads (below
// smallHead), with loops the compiler keeps inline. It walks the cache's
// tiles (see Sequence) in order, so every sum is taken in the order of
// positions.
func (b *Batch) head(s *Sequence, i, h, layer int) {
	m := b.m
	hs, qd, seqLen := m.HeadSize(), m.QDim(), m.SeqLen
	pos := b.pos[i]
	// A sliding window of w sees positions pos-w+1 … pos, as llama.cpp's
	// mask does (it hides a key when pos - keyPos >= w).
	first := 0
	if w := m.blocks[layer].window; w > 0 && pos >= w {
		first = pos - w + 1
	}
	q := b.q[i*qd+h*hs : i*qd+(h+1)*hs]
	// att[t-first] is the score of position t.
	att := b.att[(i*m.Heads+h)*seqLen : (i*m.Heads+h)*seqLen+pos+1-first]
	g := h / (m.Heads / m.KVHeads)
	keys, values := s.key[layer], s.value[layer]
	scale := float32(1 / math.Sqrt(float64(hs)))
	if m.attnScale != 0 {
		scale = m.attnScale
	}
	out := b.ao[i*qd+h*hs : i*qd+(h+1)*hs]
	clear(out)
	// tile returns the rows of positions [lo, hi) of the tile that starts
	// at k0 (hs floats apart, from the cache c) and their scores.
	tile := func(c []float32, k0 int) (rows, a []float32) {
		lo, hi := max(k0, first), min(k0+keyTile, pos+1)
		return c[m.kvTile(k0/keyTile, g)+(lo-k0)*hs:], att[lo-first : hi-first]
	}
	t0 := first / keyTile * keyTile
	// Small heads (stories260K has 8) spend more on calls than on
	// arithmetic: plain loops the compiler keeps inline.
	// Two partial sums (head sizes are even) halve the chain of
	// dependent adds, which bounds this loop.
	for k0 := t0; k0 <= pos; k0 += keyTile {
		keys, att := tile(keys, k0)
		if hs == 8 {
			// stories260K's heads: q in registers, the same sums in the
			// same order as the loop below.
			q0, q1, q2, q3, q4, q5, q6, q7 := q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]
			for t := range att {
				k := keys[t*8 : t*8+8]
				var s0, s1 float32
				s0 += q0 * k[0]
				s1 += q1 * k[1]
				s0 += q2 * k[2]
				s1 += q3 * k[3]
				s0 += q4 * k[4]
				s1 += q5 * k[5]
				s0 += q6 * k[6]
				s1 += q7 * k[7]
				att[t] = (s0 + s1) * scale
			}
			continue
		}
		for t := range att {
			k := keys[t*hs : t*hs+hs]
			var s0, s1 float32
			for j := 0; j+1 < len(k); j += 2 {
				s0 += q[j] * k[j]
				s1 += q[j+1] * k[j+1]
			}
			att[t] = (s0 + s1) * scale
		}
	}
	if m.attnSoftcap != 0 {
		softcap(att, m.attnSoftcap)
	}
	kernels.Softmax(att)
	if hs%8 == 0 {
		// Eight columns at a time in locals, which stay in registers:
		// accumulating into out went through memory at every position
		// (a store-to-load chain). Same operations, same order.
		for j0 := 0; j0 < hs; j0 += 8 {
			var o0, o1, o2, o3, o4, o5, o6, o7 float32
			for k0 := t0; k0 <= pos; k0 += keyTile {
				values, att := tile(values, k0)
				for t, a := range att {
					v := values[t*hs+j0 : t*hs+j0+8]
					o0 += a * v[0]
					o1 += a * v[1]
					o2 += a * v[2]
					o3 += a * v[3]
					o4 += a * v[4]
					o5 += a * v[5]
					o6 += a * v[6]
					o7 += a * v[7]
				}
			}
			o := out[j0 : j0+8]
			o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7] = o0, o1, o2, o3, o4, o5, o6, o7
		}
		return
	}
	for k0 := t0; k0 <= pos; k0 += keyTile {
		values, att := tile(values, k0)
		for t, a := range att {
			v := values[t*hs : t*hs+hs]
			for j, vj := range v {
				out[j] += a * vj
			}
		}
	}
}

// smallHead is the head size below which attention uses inline loops.
const smallHead = 32

func add(dst, x []float32) {
	for i, v := range x {
		dst[i] += v
	}
}
