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

	x, xb, xb2, q, k, v []float32 // entry × width
	hb, hb2             []float32 // entry × hidden
	att                 []float32 // entry × heads × seqLen
	pos                 []int     // entry → position
	lx, logits          []float32 // logit rows × dim, × vocab
	cos, sin            []float32 // entry × headSize/2: RoPE at the entry's position
}

// NewBatch allocates activations for steps of up to capacity entries.
func (m *Model) NewBatch(capacity int) *Batch {
	if capacity < 1 {
		capacity = 1
	}
	d, h, kv := m.Dim, m.HiddenDim, m.KVDim()
	n := capacity
	return &Batch{
		m: m, cap: n,
		x: make([]float32, n*d), xb: make([]float32, n*d), xb2: make([]float32, n*d), q: make([]float32, n*d),
		k: make([]float32, n*kv), v: make([]float32, n*kv),
		hb: make([]float32, n*h), hb2: make([]float32, n*h),
		att: make([]float32, n*m.Heads*m.SeqLen), pos: make([]int, n),
		lx: make([]float32, n*d), logits: make([]float32, n*m.VocabSize),
		cos: make([]float32, n*m.HeadSize()/2), sin: make([]float32, n*m.HeadSize()/2),
	}
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
	d, kv, hd := m.Dim, m.KVDim(), m.HiddenDim
	half := m.HeadSize() / 2
	for i, e := range entries {
		if err := m.embedding(b.x[i*d:(i+1)*d], e.Token); err != nil {
			return err
		}
		for j, f := range m.ropeFreq {
			val := float32(b.pos[i]) * f
			b.cos[i*half+j] = float32(math.Cos(float64(val)))
			b.sin[i*half+j] = float32(math.Sin(float64(val)))
		}
	}
	for l := range m.blocks {
		blk := &m.blocks[l]
		for i := 0; i < n; i++ {
			kernels.RMSNorm(b.xb[i*d:(i+1)*d], b.x[i*d:(i+1)*d], blk.attnNorm, m.NormEps)
		}
		kernels.MatMul(b.q[:n*d], blk.wq, b.xb[:n*d], n)
		kernels.MatMul(b.k[:n*kv], blk.wk, b.xb[:n*d], n)
		kernels.MatMul(b.v[:n*kv], blk.wv, b.xb[:n*d], n)
		for i, e := range entries {
			p := b.pos[i]
			cos, sin := b.cos[i*half:(i+1)*half], b.sin[i*half:(i+1)*half]
			rope(b.q[i*d:(i+1)*d], cos, sin)
			rope(b.k[i*kv:(i+1)*kv], cos, sin)
			// Positions fill in order, so position p goes at the end.
			e.Seq.key[l] = append(e.Seq.key[l][:p*kv], b.k[i*kv:(i+1)*kv]...)
			e.Seq.value[l] = append(e.Seq.value[l][:p*kv], b.v[i*kv:(i+1)*kv]...)
		}
		b.attention(entries, l)
		kernels.MatMul(b.xb2[:n*d], blk.wo, b.xb[:n*d], n)
		add(b.x[:n*d], b.xb2[:n*d])

		for i := 0; i < n; i++ {
			kernels.RMSNorm(b.xb[i*d:(i+1)*d], b.x[i*d:(i+1)*d], blk.ffnNorm, m.NormEps)
		}
		kernels.MatMul(b.hb[:n*hd], blk.gate, b.xb[:n*d], n)
		kernels.MatMul(b.hb2[:n*hd], blk.upProj, b.xb[:n*d], n)
		kernels.SiLUMul(b.hb[:n*hd], b.hb2[:n*hd])
		kernels.MatMul(b.xb[:n*d], blk.down, b.hb[:n*hd], n)
		add(b.x[:n*d], b.xb[:n*d])
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
		kernels.MatMul(b.logits[:nl*V], m.output, b.lx[:nl*d], nl)
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

func (m *Model) embedding(dst []float32, token int) error {
	e := m.embed
	if e.Type == ggml.F32 {
		copy(dst, e.F32[token*m.Dim:(token+1)*m.Dim])
		return nil
	}
	rowBytes := len(e.Data) / e.Rows
	return kernels.Dequantize(dst, e.Type, e.Data[token*rowBytes:(token+1)*rowBytes])
}

// rope rotates each head's pairs (2i, 2i+1) of vec by the angles whose
// cosines and sines are given.
func rope(vec, cos, sin []float32) {
	half := len(cos)
	hs := 2 * half
	for h := 0; h+hs <= len(vec); h += hs {
		v := vec[h : h+hs]
		for i := 0; i < half; i++ {
			v0, v1 := v[2*i], v[2*i+1]
			v[2*i] = v0*cos[i] - v1*sin[i]
			v[2*i+1] = v0*sin[i] + v1*cos[i]
		}
	}
}

// attention computes, for every entry and head, softmax(q·K/√hs)·V over
// the entry's sequence up to its position, into xb.
func (b *Batch) attention(entries []Entry, layer int) {
	m := b.m
	n, heads := len(entries), m.Heads
	// The estimate is in the products' units (AVX-512 multiply-adds);
	// attention's are scalar Go loops for small heads and short calls
	// for the others, several times dearer each, so it is scaled up:
	// stories260K's eight heads then split across cores from the first
	// positions instead of from position 255.
	work := 0
	for i := 0; i < n; i++ {
		work += (b.pos[i] + 1) * m.Dim * 2 * 8
	}
	parallelRows(n*heads, work, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			b.head(entries[r/heads].Seq, r/heads, r%heads, layer)
		}
	})
}

func (b *Batch) head(s *Sequence, i, h, layer int) {
	m := b.m
	hs, kv, seqLen := m.HeadSize(), m.KVDim(), m.SeqLen
	pos := b.pos[i]
	q := b.q[i*m.Dim+h*hs : i*m.Dim+(h+1)*hs]
	att := b.att[(i*m.Heads+h)*seqLen : (i*m.Heads+h)*seqLen+pos+1]
	kvOff := (h / (m.Heads / m.KVHeads)) * hs
	keys, values := s.key[layer][kvOff:], s.value[layer][kvOff:]
	scale := float32(1 / math.Sqrt(float64(hs)))
	out := b.xb[i*m.Dim+h*hs : i*m.Dim+(h+1)*hs]
	clear(out)
	if hs < smallHead {
		// Small heads (stories260K has 8) spend more on calls than on
		// arithmetic: plain loops the compiler keeps inline.
		// Two partial sums (head sizes are even) halve the chain of
		// dependent adds, which bounds this loop.
		if hs == 8 {
			// stories260K's heads: q in registers, the same sums in the
			// same order as the loop below.
			q0, q1, q2, q3, q4, q5, q6, q7 := q[0], q[1], q[2], q[3], q[4], q[5], q[6], q[7]
			for t := range att {
				k := keys[t*kv : t*kv+8]
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
		} else {
			for t := range att {
				k := keys[t*kv : t*kv+hs]
				var s0, s1 float32
				for j := 0; j+1 < len(k); j += 2 {
					s0 += q[j] * k[j]
					s1 += q[j+1] * k[j+1]
				}
				att[t] = (s0 + s1) * scale
			}
		}
		kernels.Softmax(att)
		if hs%8 == 0 {
			// Eight columns at a time in locals, which stay in registers:
			// accumulating into out went through memory at every position
			// (a store-to-load chain). Same operations, same order.
			for j0 := 0; j0 < hs; j0 += 8 {
				var o0, o1, o2, o3, o4, o5, o6, o7 float32
				for t, a := range att {
					v := values[t*kv+j0 : t*kv+j0+8]
					o0 += a * v[0]
					o1 += a * v[1]
					o2 += a * v[2]
					o3 += a * v[3]
					o4 += a * v[4]
					o5 += a * v[5]
					o6 += a * v[6]
					o7 += a * v[7]
				}
				o := out[j0 : j0+8]
				o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7] = o0, o1, o2, o3, o4, o5, o6, o7
			}
			return
		}
		for t, a := range att {
			v := values[t*kv : t*kv+hs]
			for j, vj := range v {
				out[j] += a * vj
			}
		}
		return
	}
	for t := range att {
		att[t] = kernels.Dot(q, keys[t*kv:t*kv+hs]) * scale
	}
	kernels.Softmax(att)
	for t, a := range att {
		kernels.Axpy(out, a, values[t*kv:t*kv+hs])
	}
}

// smallHead is the head size below which attention uses inline loops.
const smallHead = 32

func add(dst, x []float32) {
	for i, v := range x {
		dst[i] += v
	}
}
