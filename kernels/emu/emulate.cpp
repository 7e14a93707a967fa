// Runs kernels/gemm.cu on the CPU: every CUDA thread of a block is a std::thread, __syncthreads
// is a barrier, __shared__ arrays are shared by the block's threads, blocks run one after the
// other. Checks the three kernels (general, general_wide for float, small) against a naive
// oracle over layouts that matter (N/T/C operands, row-major / interleaved / general-stride C,
// negative and zero strides, pointer arrays, alpha = 0, beta = 0 over NaN, grids smaller than
// the work so the grid-stride loops run).
//
// Build and run (kernels/emu/run.sh does it for all four types):
//   g++ -std=c++20 -O1 -pthread -DTBLAS_DTYPE=0 kernels/emu/emulate.cpp -o /tmp/emu0 && /tmp/emu0
// Exit status 0 = every case matched; the output names each failing case.

#include <barrier>
#include <cmath>
#include <complex>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <thread>
#include <vector>

struct dim3e {
    unsigned x = 1, y = 1, z = 1;
};
thread_local dim3e threadIdx;
dim3e blockIdx, blockDim, gridDim;
static std::barrier<>* g_barrier = nullptr;
inline void __syncthreads() { g_barrier->arrive_and_wait(); }
template <typename A, typename B>
inline A min(A a, B b) { return a < (A)b ? a : (A)b; }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }

#define __device__
#define __host__
#define __forceinline__ inline
#define __global__
#define __launch_bounds__(x)
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))
struct alignas(16) float4 {
    float x, y, z, w;
};
#define TBLAS_EXTERN_SHARED extern
alignas(16) unsigned char smem_raw[64 * 1024];

#include "../gemm.cu"

// ---- launcher --------------------------------------------------------------------------------

static void launch(void (*kernel)(Args), Args g, dim3e grid, dim3e block) {
    gridDim = grid;
    blockDim = block;
    const unsigned nthreads = block.x * block.y;
    for (unsigned by = 0; by < grid.y; ++by)
        for (unsigned bx = 0; bx < grid.x; ++bx) {
            blockIdx.x = bx;
            blockIdx.y = by;
            std::barrier<> bar((std::ptrdiff_t)nthreads);
            g_barrier = &bar;
            std::vector<std::thread> ts;
            for (unsigned ty = 0; ty < block.y; ++ty)
                for (unsigned tx = 0; tx < block.x; ++tx)
                    ts.emplace_back([=] {
                        threadIdx.x = tx;
                        threadIdx.y = ty;
                        kernel(g);
                    });
            for (auto& t : ts) t.join();
        }
}

// ---- element helpers ---------------------------------------------------------------------------

static std::complex<double> to_c(float x) { return {x, 0}; }
static std::complex<double> to_c(double x) { return {x, 0}; }
static std::complex<double> to_c(cfloat x) { return {x.re, x.im}; }
static std::complex<double> to_c(cdouble x) { return {x.re, x.im}; }
static void from_c(std::complex<double> v, float* x) { *x = (float)v.real(); }
static void from_c(std::complex<double> v, double* x) { *x = v.real(); }
static void from_c(std::complex<double> v, cfloat* x) { x->re = (float)v.real(), x->im = (float)v.imag(); }
static void from_c(std::complex<double> v, cdouble* x) { x->re = v.real(), x->im = v.imag(); }
static const bool COMPLEX = TBLAS_DTYPE >= 2;
static const double EPS = (TBLAS_DTYPE % 2 == 0) ? 1.2e-7 : 2.3e-16;

struct Layout {
    long long rs, cs, bs, off;  // element (i, j) of entry p at off + p*bs + i*rs + j*cs
};

struct Case {
    const char* name;
    long long m, n, k, batch;
    Layout a, b, c;
    bool conj_a, conj_b, arrays;
    double alpha_re, alpha_im, beta_re, beta_im;
    unsigned grid_x, grid_y;  // 0 = as the host would launch
};

static long long span(const Layout& l, long long r, long long c, long long batch) {
    long long hi = l.off, lo = l.off;
    for (auto [e, s] : {std::pair{r, l.rs}, {c, l.cs}, {batch, l.bs}}) {
        if (e <= 0) continue;
        if (s > 0) hi += (e - 1) * s;
        else lo += (e - 1) * s;
    }
    if (lo < 0) {
        std::fprintf(stderr, "bad layout (negative offset)\n");
        std::exit(2);
    }
    return hi + 1;
}

enum Which { GENERAL, SMALL, WIDE };
static const char* NAMES[] = {"general", "small", "wide"};

static int run_case(const Case& cs, Which which, std::mt19937& rng) {
    std::uniform_real_distribution<double> u(-1, 1);
    std::vector<T> A(span(cs.a, cs.m, cs.k, cs.batch)), B(span(cs.b, cs.k, cs.n, cs.batch)),
        C(span(cs.c, cs.m, cs.n, cs.batch));
    for (auto& x : A) from_c({u(rng), COMPLEX ? u(rng) : 0}, &x);
    for (auto& x : B) from_c({u(rng), COMPLEX ? u(rng) : 0}, &x);
    for (auto& x : C) from_c({u(rng), COMPLEX ? u(rng) : 0}, &x);
    const bool beta_zero = cs.beta_re == 0 && cs.beta_im == 0;
    const bool alpha_zero = cs.alpha_re == 0 && cs.alpha_im == 0;
    if (beta_zero)  // planted NaN: beta == 0 must not read C
        for (long long p = 0; p < cs.batch; ++p)
            for (long long j = 0; j < cs.n; ++j)
                for (long long i = 0; i < cs.m; ++i)
                    from_c({NAN, NAN}, &C[cs.c.off + p * cs.c.bs + i * cs.c.rs + j * cs.c.cs]);
    std::vector<T> C0 = C;
    // oracle
    std::vector<std::complex<double>> want(C.size());
    for (size_t q = 0; q < C.size(); ++q) want[q] = to_c(C[q]);
    const std::complex<double> alpha(cs.alpha_re, COMPLEX ? cs.alpha_im : 0), beta(cs.beta_re, COMPLEX ? cs.beta_im : 0);
    for (long long p = 0; p < cs.batch; ++p)
        for (long long j = 0; j < cs.n; ++j)
            for (long long i = 0; i < cs.m; ++i) {
                std::complex<double> acc = 0;
                for (long long l = 0; l < cs.k; ++l) {
                    auto a = to_c(A[cs.a.off + p * cs.a.bs + i * cs.a.rs + l * cs.a.cs]);
                    auto b = to_c(B[cs.b.off + p * cs.b.bs + l * cs.b.rs + j * cs.b.cs]);
                    if (cs.conj_a) a = std::conj(a);
                    if (cs.conj_b) b = std::conj(b);
                    acc += a * b;
                }
                const long long q = cs.c.off + p * cs.c.bs + i * cs.c.rs + j * cs.c.cs;
                auto r = alpha_zero || cs.k == 0 ? std::complex<double>(0) : alpha * acc;
                if (!beta_zero) r += beta * want[q];
                want[q] = r;
            }
    // kernel
    std::vector<const T*> ap, bp;
    std::vector<T*> cp;
    Args g{};
    g.m = cs.m, g.n = cs.n, g.k = cs.k, g.batch = cs.batch;
    g.a_rs = cs.a.rs, g.a_cs = cs.a.cs, g.b_rs = cs.b.rs, g.b_cs = cs.b.cs, g.c_rs = cs.c.rs, g.c_cs = cs.c.cs;
    if (cs.arrays) {
        for (long long p = 0; p < cs.batch; ++p) {
            ap.push_back(A.data() + cs.a.off + p * cs.a.bs);
            bp.push_back(B.data() + cs.b.off + p * cs.b.bs);
            cp.push_back(C.data() + cs.c.off + p * cs.c.bs);
        }
        g.a_arr = ap.data(), g.b_arr = bp.data(), g.c_arr = cp.data();
        // As the host passes them (src/backend/cuda/mod.rs, ArrayLayout): when A and B are never
        // read (alpha == 0 or k == 0) their arrays are empty and their addresses NULL, and
        // g.a / g.b stay NULL too, so a kernel that touched them would crash here.
        if (alpha_zero || cs.k == 0) g.a_arr = nullptr, g.b_arr = nullptr;
    } else {
        g.a = A.data() + cs.a.off, g.b = B.data() + cs.b.off, g.c = C.data() + cs.c.off;
        g.a_bs = cs.a.bs, g.b_bs = cs.b.bs, g.c_bs = cs.c.bs;
    }
    g.alpha_re = cs.alpha_re, g.alpha_im = cs.alpha_im, g.beta_re = cs.beta_re, g.beta_im = cs.beta_im;
    g.conj_a = cs.conj_a, g.conj_b = cs.conj_b;
    g.ab_unread = alpha_zero || cs.k == 0;
    g.beta_zero = beta_zero;
    if (which == SMALL) {
        const long long per = tblas_small_per((int)cs.m, (int)cs.n, (int)cs.k);
        const long long groups = (cs.batch + per - 1) / per;
        launch(tblas_gemm_small, g, {cs.grid_x ? cs.grid_x : (unsigned)groups, 1}, {256, 1});
    } else if (which == WIDE) {
#if TBLAS_DTYPE == 0
        const long long tiles = ((cs.m + 127) / 128) * ((cs.n + 127) / 128);
        launch(tblas_gemm_general_wide, g, {cs.grid_x ? cs.grid_x : (unsigned)tiles, cs.grid_y ? cs.grid_y : (unsigned)cs.batch}, {16, 16});
#endif
    } else {
        const long long tiles = ((cs.m + 63) / 64) * ((cs.n + 63) / 64);
        launch(tblas_gemm_general, g, {cs.grid_x ? cs.grid_x : (unsigned)tiles, cs.grid_y ? cs.grid_y : (unsigned)cs.batch}, {16, 16});
    }
    // compare: addressed elements against the oracle, everything else untouched
    std::vector<char> addressed(C.size(), 0);
    for (long long p = 0; p < cs.batch; ++p)
        for (long long j = 0; j < cs.n; ++j)
            for (long long i = 0; i < cs.m; ++i) addressed[cs.c.off + p * cs.c.bs + i * cs.c.rs + j * cs.c.cs] = 1;
    const double tol = 8 * EPS * (cs.k + 2) * 4;
    int bad = 0;
    for (size_t q = 0; q < C.size(); ++q) {
        if (!addressed[q]) {
            if (std::memcmp(&C[q], &C0[q], sizeof(T)) != 0) ++bad;
            continue;
        }
        const auto got = to_c(C[q]);
        if (!(std::abs(got - want[q]) <= tol * (1 + std::abs(want[q])))) {
            if (bad < 3)
                std::printf("  %s (%s): C[%zu] = (%g, %g), want (%g, %g)\n", cs.name, NAMES[which], q,
                            got.real(), got.imag(), want[q].real(), want[q].imag());
            ++bad;
        }
    }
    return bad;
}

int main() {
    std::mt19937 rng(12345);
    // Column-major entry of r x c with leading dimension ld, entries `bs` apart.
    auto col = [](long long ld, long long bs, long long off = 0) { return Layout{1, ld, bs, off}; };
    auto row = [](long long ld, long long bs, long long off = 0) { return Layout{ld, 1, bs, off}; };
    std::vector<Case> cases = {
        {"NN square", 20, 20, 20, 3, col(20, 400), col(20, 400), col(20, 400), 0, 0, 0, 1, 0, 0, 0, 0, 0},
        {"NN ragged beyond one tile", 70, 67, 33, 2, col(70, 70 * 33), col(33, 33 * 67), col(71, 71 * 67), 0, 0, 0, 1.5, -0.5, 0.5, 0.25, 0, 0},
        {"TN (A row-major)", 13, 9, 17, 4, row(17, 13 * 17), col(17, 17 * 9), col(13, 13 * 9), 0, 0, 0, 1, 0, 1, 0, 0, 0},
        {"CN conj A", 13, 9, 17, 4, row(17, 13 * 17), col(17, 17 * 9), col(13, 13 * 9), 1, 0, 0, 1, 0, 0, 0, 0, 0},
        {"N conj-without-transpose B", 5, 6, 7, 3, col(5, 35), col(7, 42), col(5, 30), 0, 1, 0, 1, 1, 0, 0, 0, 0},
        {"row-major C", 9, 11, 5, 2, col(9, 45), col(5, 55), row(11, 99), 0, 0, 0, 1, 0, 2, 0, 0, 0},
        {"interleaved C (ldc = 24, stride_c = 4)", 4, 5, 3, 6, col(4, 12), col(3, 15), Layout{1, 24, 4, 0}, 0, 0, 0, 1, 0, 1, 0, 0, 0},
        {"general strides + negative batch stride", 6, 7, 8, 3, Layout{3, 19, -200, 400}, Layout{2, 17, 150, 0}, Layout{2, 13, 100, 0}, 0, 0, 0, 0.5, 0, -1, 0, 0, 0},
        {"stride-0 B broadcast", 16, 16, 16, 5, col(16, 256), col(16, 0), col(16, 256), 0, 0, 0, 1, 0, 0, 0, 0, 0},
        {"alpha = 0 scales C", 8, 8, 8, 2, col(8, 64), col(8, 64), col(8, 64), 0, 0, 0, 0, 0, 3, 0, 0, 0},
        {"k = 0, beta = 0 zeroes C", 8, 3, 0, 2, col(8, 0), col(1, 0), col(8, 24), 0, 0, 0, 1, 0, 0, 0, 0, 0},
        {"pointer arrays", 12, 10, 9, 5, col(12, 108), row(10, 90), col(12, 120), 0, 0, 1, 1, -1, 0.5, 0, 0, 0},
        {"pointer arrays, alpha = 0 (A, B arrays NULL)", 6, 5, 4, 7, col(6, 24), col(4, 20), col(6, 30), 0, 0, 1, 0, 0, 2, 0, 0, 0},
        {"pointer arrays, k = 0 (A, B arrays NULL)", 6, 5, 0, 7, col(6, 0), col(1, 0), col(6, 30), 0, 0, 1, 1, 0, -1, 0, 0, 0},
        {"grid smaller than the work", 130, 70, 20, 5, col(130, 2600), col(20, 1400), col(130, 9100), 0, 0, 0, 1, 0, 1, 0, 1, 2},
        {"small: many entries per block", 4, 4, 4, 100, col(4, 16), col(4, 16), col(4, 16), 0, 0, 0, 1, 0, 1, 0, 0, 0},
        {"small: 16x16x16 conj", 16, 16, 16, 3, row(16, 256), col(16, 256), col(16, 256), 1, 0, 0, 1, 0.5, 0, 0, 0, 0},
        {"small: 1x1x16, entries capped by shared memory", 1, 1, 16, 1000, col(1, 16), col(16, 16), col(1, 1), 0, 0, 0, 1, 0, 1, 0, 0, 0},
        {"small: odd sizes, grid-stride", 3, 5, 7, 101, col(3, 21), col(7, 35), col(3, 15), 0, 0, 0, 2, 0, 1, 0, 4, 0},
        {"small: 8x8x8, 16 entries per block, ragged last", 8, 8, 8, 37, col(8, 64), row(8, 64), col(8, 64), 0, 0, 0, 1, 0, 0.5, 0, 0, 0},
        {"wide: TT ragged over two tiles, k past 2 slices", 131, 129, 19, 2, row(19, 131 * 19), row(129, 19 * 129), col(133, 133 * 129), 0, 0, 0, 1.25, 0, -1, 0, 0, 0},
        {"wide: NT general C, grid-stride", 200, 90, 9, 3, col(200, 1800), row(90, 810), Layout{3, 601, 90 * 601, 0}, 0, 0, 0, 1, 0, 0, 0, 1, 2},
    };
    int failed = 0;
    for (const auto& c : cases) {
        const bool fits_small = c.m <= 16 && c.n <= 16 && c.k <= 16;
        // The wide kernel (float) on every case, also those the host would give the 64x64
        // kernel: its tiles must be right when ragged or mostly empty.
        for (Which w : {GENERAL, SMALL, WIDE}) {
            if ((w == SMALL && !fits_small) || (w == WIDE && TBLAS_DTYPE != 0)) continue;
            const int bad = run_case(c, w, rng);
            std::printf("%-52s %-8s %s\n", c.name, NAMES[w], bad ? "FAILED" : "ok");
            failed += bad != 0;
        }
    }
    std::printf("TBLAS_DTYPE=%d: %d failing case(s)\n", TBLAS_DTYPE, failed);
    return failed ? 1 : 0;
}
