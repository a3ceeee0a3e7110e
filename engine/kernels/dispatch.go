package kernels

// The kernels in use. Architecture files replace these in init when the CPU
// supports a faster path; the Go versions stay reachable for the tests.
var (
	dotF32      = dotF32Go
	dotF16      = dotF16Go
	dotBF16     = dotBF16Go
	dotQ80      = dotQ80Go
	dotQ40      = dotQ40Go
	dotQ50      = dotQ50Go
	dotQ4K      = dotQ4KGo
	dotQ5K      = dotQ5KGo
	dotQ6K      = dotQ6KGo
	quantizeQ8  = quantizeQ8Go
	quantizeQ8K = quantizeQ8KGo
	matF32      = matF32Go
	axpy        = axpyGo
	expSum      = expSumGo
	siluMul     = siluMulGo
)
