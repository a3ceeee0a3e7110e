package model

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/runnel/runnel/engine/kernels"
)

// moe is a mixture-of-experts feed-forward: a router scores the experts
// for each token, the top `used` run (each a SiLU-gated feed-forward of
// its own), and their outputs are summed, weighted by the router's
// softmax probabilities renormalised over the chosen experts. This is
// llama.cpp's build_moe_ffn with softmax gating and norm_w, as Qwen3-MoE
// and OLMoE use it.
type moe struct {
	router           *kernels.Matrix   // experts × dim
	gate, up, down   []*kernels.Matrix // per expert: ff × dim, ff × dim, dim × ff
	used, ff         int
	normalizeWeights bool
}

// moeBuf is a Batch's scratch space for one step's mixture of experts.
type moeBuf struct {
	logits       []float32 // entry × experts
	slotExpert   []int     // entry·used + j → the j-th chosen expert
	slotWeight   []float32 // and its weight
	in, out      []float32 // gathered slots × dim
	h1, h2       []float32 // gathered slots × ff
	slotOut      []float32 // entry·used + j → expert output (dim)
	slots, order []int
}

func newMoEBuf(m *Model, n int) *moeBuf {
	var mo *moe
	for i := range m.blocks {
		if m.blocks[i].moe != nil {
			mo = m.blocks[i].moe
			break
		}
	}
	if mo == nil {
		return nil
	}
	d, s := m.Dim, n*mo.used
	return &moeBuf{
		logits: make([]float32, n*len(mo.gate)), slotExpert: make([]int, s), slotWeight: make([]float32, s),
		in: make([]float32, s*d), out: make([]float32, s*d), h1: make([]float32, s*mo.ff), h2: make([]float32, s*mo.ff),
		slotOut: make([]float32, s*d), slots: make([]int, 0, s), order: make([]int, len(mo.gate)),
	}
}

// forward sets dst (n × dim) to the mixture's output for the n rows of x.
// Each expert runs once per step, over the rows that chose it.
func (mo *moe) forward(buf *moeBuf, dst, x []float32, n, d int) {
	E, used, ff := len(mo.gate), mo.used, mo.ff
	logits := buf.logits[:n*E]
	kernels.MatMul(logits, mo.router, x[:n*d], n)
	for i := 0; i < n; i++ {
		p := logits[i*E : (i+1)*E]
		kernels.Softmax(p)
		// The used most probable experts, most probable first (ggml's
		// argsort_top_k; ties are broken by index).
		order := buf.order[:E]
		for e := range order {
			order[e] = e
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(p[b], p[a]) })
		var sum float32
		for j := 0; j < used; j++ {
			buf.slotExpert[i*used+j] = order[j]
			buf.slotWeight[i*used+j] = p[order[j]]
			sum += p[order[j]]
		}
		if mo.normalizeWeights {
			sum = max(sum, 6.103515625e-5) // llama.cpp's clamp, the smallest normal half
			for j := 0; j < used; j++ {
				buf.slotWeight[i*used+j] /= sum
			}
		}
	}
	for e := 0; e < E; e++ {
		slots := buf.slots[:0]
		for s, se := range buf.slotExpert[:n*used] {
			if se == e {
				slots = append(slots, s)
			}
		}
		k := len(slots)
		if k == 0 {
			continue
		}
		for r, s := range slots {
			copy(buf.in[r*d:(r+1)*d], x[(s/used)*d:(s/used+1)*d])
		}
		kernels.MatMul(buf.h1[:k*ff], mo.gate[e], buf.in[:k*d], k)
		kernels.MatMul(buf.h2[:k*ff], mo.up[e], buf.in[:k*d], k)
		kernels.SiLUMul(buf.h1[:k*ff], buf.h2[:k*ff])
		kernels.MatMul(buf.out[:k*d], mo.down[e], buf.h1[:k*ff], k)
		for r, s := range slots {
			copy(buf.slotOut[s*d:(s+1)*d], buf.out[r*d:(r+1)*d])
		}
	}
	// Weighted sum in the experts' order of choice, as llama.cpp adds them.
	for i := 0; i < n; i++ {
		o := dst[i*d : (i+1)*d]
		for j := 0; j < used; j++ {
			s := i*used + j
			w, y := buf.slotWeight[s], buf.slotOut[s*d:(s+1)*d]
			if j == 0 {
				for c := range o {
					o[c] = w * y[c]
				}
				continue
			}
			for c := range o {
				o[c] += w * y[c]
			}
		}
	}
}

// check validates the mixture's shapes for a model of width d.
func (mo *moe) check(p string, d int, check func(string, *kernels.Matrix, int, int) error) error {
	E := len(mo.gate)
	if E == 0 || len(mo.up) != E || len(mo.down) != E || mo.used < 1 || mo.used > E || mo.ff < 1 {
		return fmt.Errorf("model: %smixture of %d experts (%d used, %d up, %d down, ff %d) is malformed", p, E, mo.used, len(mo.up), len(mo.down), mo.ff)
	}
	if err := check(p+"ffn_gate_inp", mo.router, E, d); err != nil {
		return err
	}
	for e := 0; e < E; e++ {
		q := fmt.Sprintf("%sexpert %d ", p, e)
		for _, err := range []error{check(q+"ffn_gate", mo.gate[e], mo.ff, d), check(q+"ffn_up", mo.up[e], mo.ff, d), check(q+"ffn_down", mo.down[e], d, mo.ff)} {
			if err != nil {
				return err
			}
		}
	}
	return nil
}
