// ONE(q, d, acc): one vector's share of a Q8_0 block in dotQ80x4. The
// weight block's bytes are in Y4, their magnitudes in Y5 and its scale in
// X6; q and d point at the vector's block quants and scale. As dotQ80's
// BLOCKSCALE and DOTI8: acc += (dw·dx) · float(Σ |w|·(x with w's sign)).
// Clobbers Y7-Y9.
#define ONE(q, d, acc) \
	VMOVDQU      (q), Y7 \
	VPSIGNB      Y4, Y7, Y7 \
	I8DOT(Y7, Y5, Y8) \
	VCVTDQ2PS    Y8, Y8 \
	VMULSS       (d), X6, X9 \
	VBROADCASTSS X9, Y9 \
	VFMADD231PS  Y8, Y9, acc
