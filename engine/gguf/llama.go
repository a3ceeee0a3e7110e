package gguf

import (
	"errors"
	"os"
)

// Llama is the metadata of a llama-architecture model with a
// SentencePiece vocabulary whose unknown, BOS and EOS tokens are 0, 1 and
// 2, as llama2.c's checkpoints and the engine's synthetic models have.
type Llama struct {
	Name     string
	FileType uint32 // general.file_type: 7 for Q8_0, 15 for Q4_K_M, …
	Context  int
	Dim      int
	Hidden   int
	Layers   int
	Heads    int
	KVHeads  int
	RopeBase float32

	Tokens     []string
	Scores     []float32
	TokenTypes []int32 // 1 normal, 2 unknown, 3 control, 6 byte
}

// AddLlama adds m's metadata, the keys a llama-architecture file needs to
// load here and in llama.cpp.
func (w *Writer) AddLlama(m Llama) error {
	if m.Heads <= 0 || m.Dim%m.Heads != 0 {
		return errors.New("gguf: llama: the embedding width must be a whole number of heads")
	}
	for _, e := range []struct {
		k string
		v any
	}{
		{"general.architecture", "llama"},
		{"general.name", m.Name},
		{"general.file_type", m.FileType},
		{"llama.context_length", uint32(m.Context)},
		{"llama.embedding_length", uint32(m.Dim)},
		{"llama.block_count", uint32(m.Layers)},
		{"llama.feed_forward_length", uint32(m.Hidden)},
		{"llama.attention.head_count", uint32(m.Heads)},
		{"llama.attention.head_count_kv", uint32(m.KVHeads)},
		{"llama.attention.layer_norm_rms_epsilon", float32(1e-5)},
		{"llama.rope.dimension_count", uint32(m.Dim / m.Heads)},
		{"llama.rope.freq_base", m.RopeBase},
		{"llama.vocab_size", uint32(len(m.Tokens))},
		{"tokenizer.ggml.model", "llama"},
		{"tokenizer.ggml.tokens", m.Tokens},
		{"tokenizer.ggml.scores", m.Scores},
		{"tokenizer.ggml.token_type", m.TokenTypes},
		{"tokenizer.ggml.unknown_token_id", uint32(0)},
		{"tokenizer.ggml.bos_token_id", uint32(1)},
		{"tokenizer.ggml.eos_token_id", uint32(2)},
		{"tokenizer.ggml.add_bos_token", true},
		{"tokenizer.ggml.add_eos_token", false},
	} {
		if err := w.Add(e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile writes the file to path+".tmp" and renames it to path, so a
// failed write leaves no partial file at path.
func (w *Writer) WriteFile(path string) (int64, error) {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return 0, err
	}
	n, err := w.WriteTo(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, err
	}
	return n, nil
}
