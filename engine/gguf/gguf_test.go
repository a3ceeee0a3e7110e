package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/runnel/runnel/engine/ggml"
)

// sample builds a file with every value type, a nested array and tensors of
// several types.
func sample(t testing.TB) (*Writer, []byte) {
	t.Helper()
	w := NewWriter()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.Add("general.architecture", "llama"))
	must(w.Add("u8", uint8(200)))
	must(w.Add("i8", int8(-100)))
	must(w.Add("u16", uint16(60000)))
	must(w.Add("i16", int16(-30000)))
	must(w.Add("u32", uint32(4000000000)))
	must(w.Add("i32", int32(-2000000000)))
	must(w.Add("f32", float32(1.5)))
	must(w.Add("bool", true))
	must(w.Add("u64", uint64(1)<<63))
	must(w.Add("i64", int64(-1)<<62))
	must(w.Add("f64", math.Pi))
	must(w.Add("empty", ""))
	must(w.Add("strings", []string{"a", "", "ünï"}))
	must(w.Add("float32s", []float32{0, -1, 2.25}))
	must(w.Add("int32s", []int32{1, -2, 3}))
	must(w.Add("bools", []bool{true, false}))
	must(w.Add("u8s", []uint8{1, 2, 3}))
	must(w.Add("nested", []Array{{Data: []int32{1, 2}}, {Data: []string{"x"}}, {Data: []Array{{Data: []float64{0.5}}}}}))
	f32 := make([]byte, 4*3*2)
	for i := range 6 {
		binary.LittleEndian.PutUint32(f32[4*i:], math.Float32bits(float32(i)+0.5))
	}
	must(w.AddTensor("a.weight", ggml.F32, []uint64{3, 2}, f32))
	q8 := bytes.Repeat([]byte{7}, 34*2)
	must(w.AddTensor("b.weight", ggml.Q8_0, []uint64{64}, q8))
	must(w.AddTensor("c.weight", ggml.F16, []uint64{1}, []byte{0x00, 0x3c}))
	var buf bytes.Buffer
	n, err := w.WriteTo(&buf)
	must(err)
	if n != int64(buf.Len()) {
		t.Fatalf("WriteTo returned %d, wrote %d", n, buf.Len())
	}
	return w, buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	w, data := sample(t)
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 3 || f.Alignment != 32 || f.DataOffset%32 != 0 {
		t.Fatalf("version %d alignment %d data offset %d", f.Version, f.Alignment, f.DataOffset)
	}
	if !reflect.DeepEqual(f.KV, w.kv) {
		t.Fatalf("metadata differs:\n got %#v\nwant %#v", f.KV, w.kv)
	}
	for _, want := range w.tensors {
		got, err := f.Tensor(want.Name)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("tensor %s: got %+v want %+v", want.Name, got, want)
		}
	}
	for _, ti := range f.Tensors {
		if (f.DataOffset+ti.Offset)%32 != 0 {
			t.Errorf("tensor %s at %d is not aligned", ti.Name, ti.Offset)
		}
	}
	// Writing the parsed file again gives the same bytes.
	w2 := NewWriter()
	for _, kv := range f.KV {
		if err := w2.Add(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	for _, ti := range f.Tensors {
		tn, _ := f.Tensor(ti.Name)
		if err := w2.AddTensor(tn.Name, tn.Type, tn.Dims, tn.Data); err != nil {
			t.Fatal(err)
		}
	}
	var again bytes.Buffer
	if _, err := w2.WriteTo(&again); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), data) {
		t.Fatal("rewriting a parsed file changed its bytes")
	}
}

func TestGetters(t *testing.T) {
	_, data := sample(t)
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := f.String("general.architecture"); s != "llama" || err != nil {
		t.Errorf("String = %q, %v", s, err)
	}
	if n, err := f.Uint32("u32"); n != 4000000000 || err != nil {
		t.Errorf("Uint32 = %d, %v", n, err)
	}
	if n, err := f.Uint32("u8"); n != 200 || err != nil {
		t.Errorf("Uint32(u8) = %d, %v", n, err)
	}
	if n, err := f.Int32("i16"); n != -30000 || err != nil {
		t.Errorf("Int32(i16) = %d, %v", n, err)
	}
	if n, err := f.Uint64("u64"); n != 1<<63 || err != nil {
		t.Errorf("Uint64 = %d, %v", n, err)
	}
	if x, err := f.Float32("f32"); x != 1.5 || err != nil {
		t.Errorf("Float32 = %v, %v", x, err)
	}
	if x, err := f.Float32("f64"); x != float32(math.Pi) || err != nil {
		t.Errorf("Float32(f64) = %v, %v", x, err)
	}
	if b, err := f.Bool("bool"); !b || err != nil {
		t.Errorf("Bool = %v, %v", b, err)
	}
	if s, err := f.Strings("strings"); !reflect.DeepEqual(s, []string{"a", "", "ünï"}) || err != nil {
		t.Errorf("Strings = %q, %v", s, err)
	}
	if s, err := f.Float32s("float32s"); !reflect.DeepEqual(s, []float32{0, -1, 2.25}) || err != nil {
		t.Errorf("Float32s = %v, %v", s, err)
	}
	if s, err := f.Int32s("int32s"); !reflect.DeepEqual(s, []int32{1, -2, 3}) || err != nil {
		t.Errorf("Int32s = %v, %v", s, err)
	}
	a, err := f.Array("nested")
	if err != nil || a.Elem != TypeArray || a.Len() != 3 {
		t.Fatalf("Array(nested) = %+v, %v", a, err)
	}
	inner := a.Data.([]Array)[2].Data.([]Array)[0]
	if !reflect.DeepEqual(inner.Data, []float64{0.5}) {
		t.Errorf("nested inner = %#v", inner)
	}
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"missing", func() error { _, err := f.String("nope"); return err }(), `metadata "nope": not found`},
		{"wrong type", func() error { _, err := f.String("u32"); return err }(), `metadata "u32": want string, have uint32`},
		{"negative as uint", func() error { _, err := f.Uint32("i8"); return err }(), `-100 is out of range for uint32`},
		{"uint64 overflow", func() error { _, err := f.Uint32("u64"); return err }(), `overflows int64`},
		{"wrong array", func() error { _, err := f.Strings("int32s"); return err }(), `want array of string, have array of int32`},
		{"scalar as array", func() error { _, err := f.Float32s("f32"); return err }(), `want array, have float32`},
		{"missing tensor", func() error { _, err := f.Tensor("zz"); return err }(), `tensor "zz": not found`},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, c.err, c.want)
		}
	}
	if _, err := f.String("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing key error %v is not ErrNotFound", err)
	}
}

func TestOpenMapsTensors(t *testing.T) {
	_, data := sample(t)
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	tn, err := f.Tensor("a.weight")
	if err != nil {
		t.Fatal(err)
	}
	if got := math.Float32frombits(binary.LittleEndian.Uint32(tn.Data[20:])); got != 5.5 {
		t.Errorf("a.weight[5] = %v, want 5.5", got)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := f.Tensor("a.weight"); err == nil {
		t.Error("Tensor after Close succeeded")
	}
}

func TestAlignment(t *testing.T) {
	w := NewWriter()
	if err := w.Add("general.alignment", uint32(64)); err != nil {
		t.Fatal(err)
	}
	w.AddTensor("x", ggml.F32, []uint64{3}, make([]byte, 12))
	w.AddTensor("y", ggml.F32, []uint64{1}, []byte{1, 2, 3, 4})
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if f.Alignment != 64 || f.DataOffset%64 != 0 || f.Tensors[1].Offset != 64 {
		t.Fatalf("alignment %d data offset %d second tensor at %d", f.Alignment, f.DataOffset, f.Tensors[1].Offset)
	}
	y, _ := f.Tensor("y")
	if !bytes.Equal(y.Data, []byte{1, 2, 3, 4}) {
		t.Fatalf("y = %v", y.Data)
	}
	if err := w.Add("general.alignment", uint32(48)); err == nil {
		t.Error("duplicate/non-power-of-two alignment accepted")
	}
}

// header builds the fixed header with the given counts.
func header(version uint32, nTensors, nKV uint64) []byte {
	b := []byte(Magic)
	b = binary.LittleEndian.AppendUint32(b, version)
	b = binary.LittleEndian.AppendUint64(b, nTensors)
	return binary.LittleEndian.AppendUint64(b, nKV)
}

func str(b []byte, s string) []byte {
	return append(binary.LittleEndian.AppendUint64(b, uint64(len(s))), s...)
}

func tensorInfo(b []byte, name string, dims []uint64, typ uint32, off uint64) []byte {
	b = str(b, name)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(dims)))
	for _, d := range dims {
		b = binary.LittleEndian.AppendUint64(b, d)
	}
	b = binary.LittleEndian.AppendUint32(b, typ)
	return binary.LittleEndian.AppendUint64(b, off)
}

func kvU32(b []byte, key string, v uint32) []byte {
	return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(str(b, key), uint32(TypeUint32)), v)
}

func pad(b []byte, n int) []byte {
	for len(b)%32 != 0 {
		b = append(b, 0)
	}
	return append(b, make([]byte, n)...)
}

func TestCorrupt(t *testing.T) {
	le := binary.LittleEndian
	kvHeader := func(typ uint32) []byte { return le.AppendUint32(str(header(3, 0, 1), "k"), typ) }
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"bad magic", []byte("GGML\x03\x00\x00\x00"), `bad magic "GGML"`},
		{"version 1", header(1, 0, 0), "unsupported version 1"},
		{"version 9", header(9, 0, 0), "unsupported version 9"},
		{"big endian", header(3<<24, 0, 0), "big-endian"},
		{"truncated header", header(3, 0, 0)[:12], "truncated file: tensor count"},
		{"absurd kv count", header(3, 0, 1<<60), "metadata count 1152921504606846976 is impossible"},
		{"absurd tensor count", header(3, 1<<40, 0), "tensor count 1099511627776 is impossible"},
		{"absurd key length", append(le.AppendUint64(header(3, 0, 1), 1<<62), make([]byte, 16)...), "truncated file: metadata key of 4611686018427387904 bytes"},
		{"unknown value type", le.AppendUint32(kvHeader(99), 0), `metadata "k": unknown value type 99`},
		{"absurd array", le.AppendUint64(le.AppendUint32(kvHeader(9), uint32(TypeUint32)), 1<<61), "array of 2305843009213693952 uint32 is longer than"},
		{"absurd string array", le.AppendUint64(le.AppendUint32(kvHeader(9), uint32(TypeString)), 1<<40), "array of 1099511627776 string is longer"},
		{"unknown array type", le.AppendUint64(le.AppendUint32(kvHeader(9), 77), 1), "unknown array element type 77"},
		{"bad bool", append(kvHeader(7), 2), "bool value 2"},
		{"deep nesting", func() []byte {
			b := kvHeader(9)
			for range 20 {
				b = le.AppendUint64(le.AppendUint32(b, uint32(TypeArray)), 1)
			}
			return b
		}(), "nested more than 8 deep"},
		{"truncated value", le.AppendUint32(str(header(3, 0, 1), "k"), 4), `metadata "k": truncated file: uint32`},
		{"duplicate key", kvU32(kvU32(header(3, 0, 2), "k", 1), "k", 1), `duplicate metadata key "k"`},
		{"bad alignment", kvU32(header(3, 0, 1), "general.alignment", 48), "general.alignment 48 is not a positive power of two"},
		{"unknown tensor type", pad(tensorInfo(header(3, 1, 0), "t", []uint64{4}, 4, 0), 64), `tensor 0: "t": unknown tensor type 4`},
		{"zero dims", pad(tensorInfo(header(3, 1, 0), "t", nil, 0, 0), 64), "0 dimensions"},
		{"five dims", pad(tensorInfo(header(3, 1, 0), "t", []uint64{1, 1, 1, 1, 1}, 0, 0), 64), "5 dimensions"},
		{"dims overflow", pad(tensorInfo(header(3, 1, 0), "t", []uint64{1 << 40, 1 << 40}, 0, 0), 64), "overflow"},
		{"partial block", pad(tensorInfo(header(3, 1, 0), "t", []uint64{33}, uint32(ggml.Q8_0), 0), 64), "not a whole number of 32-element Q8_0 blocks"},
		{"misaligned offset", pad(tensorInfo(header(3, 1, 0), "t", []uint64{1}, 0, 4), 64), "offset 4 is not a multiple of the alignment 32"},
		{"data out of range", pad(tensorInfo(header(3, 1, 0), "t", []uint64{100}, 0, 0), 64), "out of range of the 64-byte data section"},
		{"data truncated", tensorInfo(header(3, 1, 0), "t", []uint64{1}, 0, 0), "past the end"},
		{"duplicate tensor", pad(tensorInfo(tensorInfo(header(3, 2, 0), "t", []uint64{1}, 0, 0), "t", []uint64{1}, 0, 32), 64), `duplicate tensor "t"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse(c.data)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "gguf: ") {
				t.Errorf("error %q does not name the package", err)
			}
		})
	}
}

// Every proper prefix of a valid file fails cleanly.
func TestTruncated(t *testing.T) {
	_, data := sample(t)
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	last := f.Tensors[len(f.Tensors)-1]
	end := f.DataOffset + last.Offset + last.Size // trailing padding is optional
	for n := range int(end) {
		if _, err := Parse(data[:n]); err == nil {
			t.Fatalf("prefix of %d/%d bytes parsed without error", n, len(data))
		}
	}
}

func TestWriterRejects(t *testing.T) {
	w := NewWriter()
	if err := w.Add("x", struct{}{}); err == nil {
		t.Error("struct metadata accepted")
	}
	if err := w.Add("x", []Array{{Data: []struct{}{}}}); err == nil {
		t.Error("nested array of struct accepted")
	}
	if err := w.AddTensor("t", ggml.F32, []uint64{2}, make([]byte, 4)); err == nil || !strings.Contains(err.Error(), "4 bytes of data, want 8") {
		t.Errorf("short data: %v", err)
	}
	if err := w.AddTensor("t", ggml.Type(4), []uint64{2}, make([]byte, 8)); err == nil {
		t.Error("unknown type accepted")
	}
	if err := w.AddTensor("q", ggml.Q4_0, []uint64{16}, make([]byte, 9)); err == nil {
		t.Error("partial block accepted")
	}
}

// The shared vocab files are real GGUF files written by llama.cpp's tools.
func TestSharedVocab(t *testing.T) {
	dir := sharedDir(t, "testdata/vocab")
	paths, _ := filepath.Glob(filepath.Join(dir, "*.gguf"))
	if len(paths) == 0 {
		t.Skip("no vocab files")
	}
	for _, p := range paths {
		f, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		model, err := f.String("tokenizer.ggml.model")
		if err != nil {
			t.Errorf("%s: %v", p, err)
		}
		toks, err := f.Strings("tokenizer.ggml.tokens")
		if err != nil || len(toks) < 256 {
			t.Errorf("%s: %d tokens, %v", p, len(toks), err)
		}
		t.Logf("%s: model %s, %d tokens, %d kv, %d tensors", filepath.Base(p), model, len(toks), len(f.KV), len(f.Tensors))
		f.Close()
	}
}

// sharedDir finds ../shared/<sub> beside the module root, skipping the test
// when it is absent.
func sharedDir(t testing.TB, sub string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.mod above the test")
		}
		dir = parent
	}
	root := filepath.Join(dir, "..", "shared")
	if env := os.Getenv("RUNNEL_SHARED"); env != "" {
		root = env // for checkouts that are not beside shared/
	}
	p := filepath.Join(root, sub)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s absent", p)
	}
	return p
}

// expertsSample is a file shaped like a mixture-of-experts model's
// metadata: architecture keys of several types and a 3-D tensor.
func expertsSample(t testing.TB) []byte {
	w := NewWriter()
	for _, kv := range []KV{{"general.architecture", Value{TypeString, "qwen3moe"}},
		{"qwen3moe.expert_count", Value{TypeUint32, uint32(3)}}, {"qwen3moe.rope.scaling.type", Value{TypeString, "linear"}},
		{"qwen3moe.rope.scaling.factor", Value{TypeFloat32, float32(8)}}} {
		if err := w.Add(kv.Key, kv.Value); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.AddTensor("blk.0.ffn_up_exps.weight", ggml.F32, []uint64{4, 2, 3}, make([]byte, 4*4*2*3)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func FuzzParse(f *testing.F) {
	_, data := sample(f)
	f.Add(data)
	f.Add(header(3, 0, 0))
	f.Add(header(2, 1, 1))
	f.Add(pad(tensorInfo(header(3, 1, 0), "t", []uint64{8}, 0, 0), 32))
	f.Add(expertsSample(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		meta, merr := decode(b, false)
		file, err := Parse(b)
		if err == nil && (merr != nil || len(meta.KV) != len(file.KV)) {
			t.Fatalf("metadata-only decode failed on a file Parse reads: %v", merr)
		}
		if err != nil {
			return
		}
		for _, ti := range file.Tensors {
			tn, err := file.Tensor(ti.Name)
			if err != nil {
				t.Fatal(err)
			}
			if uint64(len(tn.Data)) != ti.Size {
				t.Fatalf("tensor %q: %d bytes, info says %d", ti.Name, len(tn.Data), ti.Size)
			}
		}
		// Whatever parses must write back and parse to the same metadata.
		w := NewWriter()
		for _, kv := range file.KV {
			if err := w.Add(kv.Key, kv.Value); err != nil {
				if kv.Key == "general.alignment" {
					return // a non-uint32 alignment reads but is not written
				}
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		again, err := Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !reflect.DeepEqual(again.KV, file.KV) && !hasNaN(file.KV) {
			t.Fatal("metadata changed in a write/parse round trip")
		}
	})
}

func hasNaN(kvs []KV) bool {
	for _, kv := range kvs {
		if s := strings.ToLower(strings.TrimSpace(fmt.Sprint(kv.Value.Data))); strings.Contains(s, "nan") {
			return true
		}
	}
	return false
}

// TestQuantTypesOpen: files with any ggml type open, with each tensor's
// data sized by its block layout (an IQ4_XS file once failed with
// "unknown tensor type 23").
func TestQuantTypesOpen(t *testing.T) {
	for _, c := range []struct {
		typ   ggml.Type
		bytes int // one 256-element row
	}{
		{ggml.Q4_1, 8 * 20}, {ggml.Q5_0, 8 * 22}, {ggml.Q5_1, 8 * 24}, {ggml.Q2_K, 84}, {ggml.Q3_K, 110},
		{ggml.Q5_K, 176}, {ggml.IQ4_NL, 8 * 18}, {ggml.IQ4_XS, 136}, {ggml.IQ2_XXS, 66}, {ggml.IQ3_S, 110},
		{ggml.IQ1_M, 56}, {ggml.TQ2_0, 66}, {ggml.I8, 256},
	} {
		b := pad(tensorInfo(header(3, 1, 0), "t", []uint64{256}, uint32(c.typ), 0), 0)
		b = append(b, make([]byte, c.bytes)...)
		f, err := Parse(b)
		if err != nil {
			t.Errorf("%s: %v", c.typ, err)
			continue
		}
		if tn, err := f.Tensor("t"); err != nil || len(tn.Data) != c.bytes || tn.Type.String() != c.typ.String() {
			t.Errorf("%s: tensor %v, %d bytes, err %v", c.typ, tn.Type, len(tn.Data), err)
		}
	}
}
