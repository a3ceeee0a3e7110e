package mock

import (
	"bytes"
	"math/rand/v2"
)

// Obfuscate is body, an OpenAI chat completion SSE stream, as the real
// API sends it by default (stream_options.include_obfuscation): every
// chunk's JSON object ends with an "obfuscation" member, random padding
// of another length on every chunk. The padding is a function of seed
// and the chunk's place: the same body and seed give the same bytes.
// Lines that are not a chunk's data ([DONE], event and blank lines) are
// left as they are. The mock's own streams never carry the member: this
// is for benchmarks and tests of an upstream side that must read them.
func Obfuscate(body []byte, seed uint64) []byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	rnd := rand.New(rand.NewPCG(seed, 0x0bf5))
	out := make([]byte, 0, len(body)+len(body)/4)
	for line := range bytes.Lines(body) {
		v, ok := bytes.CutPrefix(line, []byte("data: {"))
		end := bytes.LastIndexByte(v, '}')
		if !ok || end < 0 {
			out = append(out, line...)
			continue
		}
		out = append(out, line[:len(line)-len(v)+end]...)
		if end > 0 { // not {}
			out = append(out, ',')
		}
		out = append(out, `"obfuscation":"`...)
		for n := 1 + rnd.IntN(16); n > 0; n-- { // OpenAI's vary so
			out = append(out, alphabet[rnd.IntN(len(alphabet))])
		}
		out = append(out, '"')
		out = append(out, v[end:]...)
	}
	return out
}
