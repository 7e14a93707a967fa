// tensorblas CUDA kernels: batched GEMM with arbitrary strides (kernels/README.md is the contract).
//
// Compiled at run time by NVRTC, once per (device, element type): the host defines TBLAS_DTYPE
// (0 = float, 1 = double, 2 = complex float, 3 = complex double) and gets the kernels
// `tblas_gemm_general` and `tblas_gemm_small` for that type. No headers are included, so the
// file compiles with NVRTC alone (also on machines without a GPU).
//
// Every kernel computes, for p < batch,
//     C[p] = alpha * opA[p] * opB[p] + beta * C[p]
// where element (i, j) of X[p] lives at base_x(p) + i*x_rs + j*x_cs (op already folded into the
// strides by the host, conjugation as a flag) and base_x(p) = x_arr ? x_arr[p] : x + p*x_bs.
// beta == 0 never reads C; ab_unread (alpha == 0 or k == 0) never reads A or B.

#ifndef TBLAS_DTYPE
#error "define TBLAS_DTYPE (0..3)"
#endif

struct cfloat {
    float re, im;
};
struct cdouble {
    double re, im;
};

#if TBLAS_DTYPE == 0
typedef float T;
#elif TBLAS_DTYPE == 1
typedef double T;
#elif TBLAS_DTYPE == 2
typedef cfloat T;
#elif TBLAS_DTYPE == 3
typedef cdouble T;
#else
#error "TBLAS_DTYPE must be 0..3"
#endif

// ---- arithmetic on the four element types ------------------------------------------------------

__device__ __forceinline__ float make_t(double re, double, float*) { return (float)re; }
__device__ __forceinline__ double make_t(double re, double, double*) { return re; }
__device__ __forceinline__ cfloat make_t(double re, double im, cfloat*) {
    cfloat z;
    z.re = (float)re;
    z.im = (float)im;
    return z;
}
__device__ __forceinline__ cdouble make_t(double re, double im, cdouble*) {
    cdouble z;
    z.re = re;
    z.im = im;
    return z;
}
__device__ __forceinline__ T make(double re, double im) { return make_t(re, im, (T*)0); }
__device__ __forceinline__ T zero() { return make(0.0, 0.0); }

__device__ __forceinline__ float conj_if(float x, int) { return x; }
__device__ __forceinline__ double conj_if(double x, int) { return x; }
__device__ __forceinline__ cfloat conj_if(cfloat x, int c) {
    if (c) x.im = -x.im;
    return x;
}
__device__ __forceinline__ cdouble conj_if(cdouble x, int c) {
    if (c) x.im = -x.im;
    return x;
}

// acc + a*b
__device__ __forceinline__ float fma_t(float a, float b, float acc) { return fmaf(a, b, acc); }
__device__ __forceinline__ double fma_t(double a, double b, double acc) { return fma(a, b, acc); }
__device__ __forceinline__ cfloat fma_t(cfloat a, cfloat b, cfloat acc) {
    acc.re = fmaf(a.re, b.re, acc.re);
    acc.re = fmaf(-a.im, b.im, acc.re);
    acc.im = fmaf(a.re, b.im, acc.im);
    acc.im = fmaf(a.im, b.re, acc.im);
    return acc;
}
__device__ __forceinline__ cdouble fma_t(cdouble a, cdouble b, cdouble acc) {
    acc.re = fma(a.re, b.re, acc.re);
    acc.re = fma(-a.im, b.im, acc.re);
    acc.im = fma(a.re, b.im, acc.im);
    acc.im = fma(a.im, b.re, acc.im);
    return acc;
}
__device__ __forceinline__ T mul(T a, T b) { return fma_t(a, b, zero()); }

// ---- arguments (one struct by value; mirrored by `KernelArgs` in src/backend/cuda/kernels.rs) --

struct Args {
    long long m, n, k, batch;
    const T* a;
    long long a_rs, a_cs, a_bs;
    const T* const* a_arr;
    const T* b;
    long long b_rs, b_cs, b_bs;
    const T* const* b_arr;
    T* c;
    long long c_rs, c_cs, c_bs;
    T* const* c_arr;
    double alpha_re, alpha_im, beta_re, beta_im;
    int conj_a, conj_b, ab_unread, beta_zero;
};

__device__ __forceinline__ const T* base_a(const Args& g, long long p) { return g.a_arr ? g.a_arr[p] : g.a + p * g.a_bs; }
__device__ __forceinline__ const T* base_b(const Args& g, long long p) { return g.b_arr ? g.b_arr[p] : g.b + p * g.b_bs; }
__device__ __forceinline__ T* base_c(const Args& g, long long p) { return g.c_arr ? g.c_arr[p] : g.c + p * g.c_bs; }

__device__ __forceinline__ void store(const Args& g, T* cp, T acc, T alpha, T beta) {
    T r = g.ab_unread ? zero() : mul(alpha, acc);
    if (!g.beta_zero) r = fma_t(beta, *cp, r);
    *cp = r;
}

// ---- general-stride kernel: 64x64 tile of C per block, 16x16 threads, 4x4 results per thread --
//
// Grid: x = C tiles (grid-stride), y = batch entries (grid-stride). Block (16, 16).
// A tile (64 x 16) and B tile (16 x 64) are staged in shared memory; each load loop runs along
// whichever operand stride is 1 so that global reads coalesce for both N and T operands.
//
// Two builds of it. float: both slices stored [k][row or column] with 16-byte aligned rows, each
// thread computing rows 4tx + {0..3}, columns 4ty + {0..3} from one 16-byte read of A and one of
// B per k, and the next slices loaded into registers while the current ones are multiplied.
// double and complex: the plain version (scalar shared reads, rows tx + 16r, columns ty + 16s, no
// register prefetch): on the H200 the float build ran 1.13-1.36x the plain one for float at
// 32-1024, but 0.57-0.87x for double, 0.63-0.79x for complex float and 0.51-0.66x for complex
// double (the prefetch registers cost occupancy: 184-252 registers against 128), so those keep
// the plain one (kernels/README.md).

#define GT 64
#define GK 16

#if TBLAS_DTYPE == 0
// Four consecutive floats of shared memory (16-byte aligned) into registers, one 16-byte load.
__device__ __forceinline__ void load4(const T* p, T* out) {
    const float4 v = *reinterpret_cast<const float4*>(p);
    out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
}

// The float kernels, tblas_gemm_general (BT = 64, BK = 16) and tblas_gemm_general_wide
// (BT = 128, BK = 8): a BT x BT tile of C per block of 16 x 16 threads, each thread computing
// R x R results (R = BT / 16) at rows 64h + 4tx + {0..3} and columns 64h + 4ty + {0..3}
// (h < R / 4), from R / 4 16-byte shared-memory reads of A and of B per k. A's BT x BK slice and
// B's BK x BT slice are stored [k][row or column] (rows padded by 16 bytes: aligned, and the
// stores along k spread over banks); each thread loads 4 elements of each (BT * BK = 1024), the
// next slices into registers while the current ones are multiplied.
template <int BT, int BK>
__device__ __forceinline__ void gemm_float_tiles(const Args& g, T (*As)[BT + 4], T (*Bs)[BT + 4]) {
    const int R = BT / 16;
    const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * 16 + tx;
    const T alpha = make(g.alpha_re, g.alpha_im);
    const T beta = make(g.beta_re, g.beta_im);
    const long long tiles_m = (g.m + BT - 1) / BT;
    const long long tiles = tiles_m * ((g.n + BT - 1) / BT);
    // A's loads run along i unless only its column stride is 1; B's along k unless only its
    // column stride is 1.
    const bool a_along_i = g.a_rs == 1 || g.a_cs != 1;
    const bool b_along_k = g.b_rs == 1 || g.b_cs != 1;
    // This thread's 4 elements of each slice: (row or column within the tile, k offset).
    int a_ii[4], a_kk[4], b_jj[4], b_kk[4];
#pragma unroll
    for (int q = 0; q < 4; ++q) {
        const int e = tid + 256 * q;
        a_ii[q] = a_along_i ? e % BT : e / BK;
        a_kk[q] = a_along_i ? e / BT : e % BK;
        b_jj[q] = b_along_k ? e / BK : e % BT;
        b_kk[q] = b_along_k ? e % BK : e / BT;
    }
    for (long long p = blockIdx.y; p < g.batch; p += gridDim.y) {
        const T* A = g.ab_unread ? 0 : base_a(g, p);
        const T* B = g.ab_unread ? 0 : base_b(g, p);
        T* C = base_c(g, p);
        for (long long t = blockIdx.x; t < tiles; t += gridDim.x) {
            const long long i0 = (t % tiles_m) * BT, j0 = (t / tiles_m) * BT;
            T acc[R][R];
#pragma unroll
            for (int r = 0; r < R; ++r)
#pragma unroll
                for (int s = 0; s < R; ++s) acc[r][s] = zero();
            if (!g.ab_unread) {
                T pa[4], pb[4];
                // The slices at depth k0 into pa, pb (zeros outside the matrices).
                auto fetch = [&](long long k0) {
#pragma unroll
                    for (int q = 0; q < 4; ++q) {
                        const long long i = i0 + a_ii[q], k = k0 + a_kk[q];
                        pa[q] = (i < g.m && k < g.k) ? conj_if(A[i * g.a_rs + k * g.a_cs], g.conj_a) : zero();
                        const long long j = j0 + b_jj[q], kb = k0 + b_kk[q];
                        pb[q] = (j < g.n && kb < g.k) ? conj_if(B[kb * g.b_rs + j * g.b_cs], g.conj_b) : zero();
                    }
                };
                fetch(0);
                for (long long k0 = 0; k0 < g.k; k0 += BK) {
#pragma unroll
                    for (int q = 0; q < 4; ++q) {
                        As[a_kk[q]][a_ii[q]] = pa[q];
                        Bs[b_kk[q]][b_jj[q]] = pb[q];
                    }
                    __syncthreads();
                    if (k0 + BK < g.k) fetch(k0 + BK);
#pragma unroll
                    for (int kk = 0; kk < BK; ++kk) {
                        T av[R], bv[R];
#pragma unroll
                        for (int h = 0; h < R / 4; ++h) {
                            load4(&As[kk][64 * h + 4 * tx], av + 4 * h);
                            load4(&Bs[kk][64 * h + 4 * ty], bv + 4 * h);
                        }
#pragma unroll
                        for (int r = 0; r < R; ++r)
#pragma unroll
                            for (int s = 0; s < R; ++s) acc[r][s] = fma_t(av[r], bv[s], acc[r][s]);
                    }
                    __syncthreads();
                }
            }
#pragma unroll
            for (int r = 0; r < R; ++r)
#pragma unroll
                for (int s = 0; s < R; ++s) {
                    const long long i = i0 + 64 * (r / 4) + 4 * tx + r % 4;
                    const long long j = j0 + 64 * (s / 4) + 4 * ty + s % 4;
                    if (i < g.m && j < g.n) store(g, C + i * g.c_rs + j * g.c_cs, acc[r][s], alpha, beta);
                }
        }
    }
}

extern "C" __global__ void __launch_bounds__(256) tblas_gemm_general(Args g) {
    __shared__ __align__(16) T As[GK][GT + 4];  // [k][i]
    __shared__ __align__(16) T Bs[GK][GT + 4];  // [k][j]
    gemm_float_tiles<GT, GK>(g, As, Bs);
}
#else
extern "C" __global__ void __launch_bounds__(256) tblas_gemm_general(Args g) {
    __shared__ T As[GK][GT + 1];
    __shared__ T Bs[GT][GK + 1];
    const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * 16 + tx;
    const T alpha = make(g.alpha_re, g.alpha_im);
    const T beta = make(g.beta_re, g.beta_im);
    const long long tiles_m = (g.m + GT - 1) / GT;
    const long long tiles = tiles_m * ((g.n + GT - 1) / GT);
    // A's loads run along i unless only its column stride is 1; B's along k unless only its
    // column stride is 1.
    const bool a_along_i = g.a_rs == 1 || g.a_cs != 1;
    const bool b_along_k = g.b_rs == 1 || g.b_cs != 1;
    for (long long p = blockIdx.y; p < g.batch; p += gridDim.y) {
        const T* A = g.ab_unread ? 0 : base_a(g, p);
        const T* B = g.ab_unread ? 0 : base_b(g, p);
        T* C = base_c(g, p);
        for (long long t = blockIdx.x; t < tiles; t += gridDim.x) {
            const long long i0 = (t % tiles_m) * GT, j0 = (t / tiles_m) * GT;
            T acc[4][4];
#pragma unroll
            for (int r = 0; r < 4; ++r)
#pragma unroll
                for (int s = 0; s < 4; ++s) acc[r][s] = zero();
            if (!g.ab_unread) {
                for (long long k0 = 0; k0 < g.k; k0 += GK) {
#pragma unroll
                    for (int q = 0; q < 4; ++q) {
                        const int e = tid + 256 * q;
                        const int ii = a_along_i ? e % GT : e / GK;
                        const int kk = a_along_i ? e / GT : e % GK;
                        const long long i = i0 + ii, k = k0 + kk;
                        As[kk][ii] = (i < g.m && k < g.k) ? conj_if(A[i * g.a_rs + k * g.a_cs], g.conj_a) : zero();
                        const int jj = b_along_k ? e / GK : e % GT;
                        const int kb = b_along_k ? e % GK : e / GT;
                        const long long j = j0 + jj, kq = k0 + kb;
                        Bs[jj][kb] = (j < g.n && kq < g.k) ? conj_if(B[kq * g.b_rs + j * g.b_cs], g.conj_b) : zero();
                    }
                    __syncthreads();
#pragma unroll
                    for (int kk = 0; kk < GK; ++kk) {
                        T av[4], bv[4];
#pragma unroll
                        for (int r = 0; r < 4; ++r) av[r] = As[kk][tx + 16 * r];
#pragma unroll
                        for (int s = 0; s < 4; ++s) bv[s] = Bs[ty + 16 * s][kk];
#pragma unroll
                        for (int r = 0; r < 4; ++r)
#pragma unroll
                            for (int s = 0; s < 4; ++s) acc[r][s] = fma_t(av[r], bv[s], acc[r][s]);
                    }
                    __syncthreads();
                }
            }
#pragma unroll
            for (int r = 0; r < 4; ++r)
#pragma unroll
                for (int s = 0; s < 4; ++s) {
                    const long long i = i0 + tx + 16 * r, j = j0 + ty + 16 * s;
                    if (i < g.m && j < g.n) store(g, C + i * g.c_rs + j * g.c_cs, acc[r][s], alpha, beta);
                }
        }
    }
}
#endif

// ---- wide general-stride kernel (float): 128x128 tile of C per block, 8x8 per thread ------------
//
// The same contract and grid as tblas_gemm_general with 128x128 tiles (gemm_float_tiles with
// BT = 128, BK = 8): per k, four 16-byte shared-memory reads feed 64 FMAs. Float only: on the
// H200 it ran 1.34-1.55x the plain 64x64 kernel for float at 128-1024, but 0.73-1.03x for double
// (kernels/README.md), and complex 8x8 accumulators would not fit in registers. The host picks
// it when m and n are both above 64.

#if TBLAS_DTYPE == 0
#define WT 128
#define WK 8

extern "C" __global__ void __launch_bounds__(256) tblas_gemm_general_wide(Args g) {
    __shared__ __align__(16) T As[WK][WT + 4];  // [k][i]
    __shared__ __align__(16) T Bs[WK][WT + 4];  // [k][j]
    gemm_float_tiles<WT, WK>(g, As, Bs);
}
#endif

// ---- small-matrix kernel: several whole batch entries per block -------------------------------
//
// For m, n, k <= 16. A block of 256 threads takes `per` = tblas_small_per(m, n, k) consecutive
// batch entries, stages their A and B in dynamic shared memory with consecutive threads reading
// consecutive elements (coalesced for packed column-major entries), and each thread computes up
// to 4 C elements. Grid: x = groups of `per` entries (grid-stride). Block (256). Dynamic shared
// memory: per * (m*k + k*n) * sizeof(T) bytes, passed by the host.

// Entries per block: up to 1024 / (m*n) (4 C elements per thread), capped so that their A and
// B fit in 48 KiB of shared memory. The host computes the same number (grid size, dynamic shared
// memory bytes).
#define TBLAS_SMALL_SMEM 49152
__host__ __device__ inline int tblas_small_per(int m, int n, int k) {
    const int mn = m * n, ab = (m + n) * k;
    int per = mn >= 1024 ? 1 : 1024 / mn;
    if (ab > 0) {
        int cap = TBLAS_SMALL_SMEM / (ab * (int)sizeof(T));
        if (cap < 1) cap = 1;
        if (per > cap) per = cap;
    }
    return per;
}

// Division by a divisor fixed for the whole launch, as a multiply-high: exact for x * d < 2^32,
// which holds for every index here (x < 2^16, d <= 256). The integer divisions of the plain
// kernel cost more than its arithmetic at m, n, k <= 8 (first H200 run: 15% of the bandwidth
// roofline at 4x4x4).
struct FastDiv {
    unsigned d, mul;
};
__device__ __forceinline__ FastDiv fast_div(unsigned d) {
    FastDiv f;
    f.d = d;
    f.mul = d > 1 ? 0xffffffffu / d + 1u : 0u;
    return f;
}
__device__ __forceinline__ unsigned div_by(unsigned x, FastDiv f) { return f.d <= 1 ? x : __umulhi(x, f.mul); }

// (The host-side emulator, kernels/emu, defines TBLAS_EXTERN_SHARED for its own shared memory.)
#ifndef TBLAS_EXTERN_SHARED
#define TBLAS_EXTERN_SHARED extern __shared__
#endif

extern "C" __global__ void __launch_bounds__(256) tblas_gemm_small(Args g) {
    TBLAS_EXTERN_SHARED unsigned char smem_raw[];
    T* sh = reinterpret_cast<T*>(smem_raw);
    const unsigned m = (unsigned)g.m, n = (unsigned)g.n, k = (unsigned)g.k;
    const unsigned mn = m * n, mk = m * k, kn = k * n;
    const FastDiv d_m = fast_div(m), d_k = fast_div(k), d_mn = fast_div(mn), d_mk = fast_div(mk), d_kn = fast_div(kn);
    const int per = tblas_small_per((int)m, (int)n, (int)k);
    T* As = sh;
    T* Bs = sh + per * mk;
    const T alpha = make(g.alpha_re, g.alpha_im);
    const T beta = make(g.beta_re, g.beta_im);
    const long long groups = (g.batch + per - 1) / per;
    for (long long grp = blockIdx.x; grp < groups; grp += gridDim.x) {
        const long long p0 = grp * per;
        const unsigned cnt = (unsigned)min((long long)per, g.batch - p0);
        if (!g.ab_unread) {
#pragma unroll 4
            for (unsigned e = threadIdx.x; e < cnt * mk; e += blockDim.x) {
                const unsigned q = div_by(e, d_mk), l = e - q * mk, kk = div_by(l, d_m), i = l - kk * m;
                const T* A = base_a(g, p0 + q);
                As[e] = conj_if(A[i * g.a_rs + kk * g.a_cs], g.conj_a);
            }
#pragma unroll 4
            for (unsigned e = threadIdx.x; e < cnt * kn; e += blockDim.x) {
                const unsigned q = div_by(e, d_kn), l = e - q * kn, j = div_by(l, d_k), kk = l - j * k;
                const T* B = base_b(g, p0 + q);
                Bs[e] = conj_if(B[kk * g.b_rs + j * g.b_cs], g.conj_b);
            }
        }
        __syncthreads();
        for (unsigned e = threadIdx.x; e < cnt * mn; e += blockDim.x) {
            const unsigned q = div_by(e, d_mn), l = e - q * mn, j = div_by(l, d_m), i = l - j * m;
            T acc = zero();
            if (!g.ab_unread) {
                const T* a = As + q * mk + i;
                const T* b = Bs + q * kn + j * k;
                for (unsigned kk = 0; kk < k; ++kk) acc = fma_t(a[kk * m], b[kk], acc);
            }
            T* C = base_c(g, p0 + q);
            store(g, C + i * g.c_rs + j * g.c_cs, acc, alpha, beta);
        }
        __syncthreads();
    }
}
