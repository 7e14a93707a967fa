// C++17 caller of tensorblas: the header inside extern "C", std::complex interop, RAII handle.
// Build: c++ -std=c++17 -Wall -Wextra -Werror -Iinclude ffi-tests/test_cpp.cpp libtensorblas.a <libs>
// Prints "N passed, N failed"; exit status 1 on any failure.
#include <algorithm>
#include <complex>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

extern "C" {
#include "tensorblas.h"
}

static int passed = 0, failed = 0;

static void check(bool ok, const char *what) {
    if (ok) {
        ++passed;
    } else {
        ++failed;
        std::fprintf(stderr, "FAIL: %s (last error: %s)\n", what, tblas_get_last_error_message());
    }
}

struct HandleDeleter {
    void operator()(tblas_handle *h) const { tblas_destroy(h); }
};
using Handle = std::unique_ptr<tblas_handle, HandleDeleter>;

static_assert(sizeof(std::complex<float>) == sizeof(tblas_complex_float), "complex float layout");
static_assert(sizeof(std::complex<double>) == sizeof(tblas_complex_double), "complex double layout");

// The oracle: column-major strided batch, op by index swap, conj for op C.
template <class T>
static T ref_elem(int ta, int tb, long i, long j, long p, long k, const std::vector<T> &A, long lda, long sa,
                  const std::vector<T> &B, long ldb, long sb) {
    std::complex<double> acc = 0;
    for (long l = 0; l < k; ++l) {
        std::complex<double> a = ta == 0 ? A[p * sa + i + l * lda] : A[p * sa + l + i * lda];
        std::complex<double> b = tb == 0 ? B[p * sb + l + j * ldb] : B[p * sb + j + l * ldb];
        if (ta == 2) a = std::conj(a);
        if (tb == 2) b = std::conj(b);
        acc += a * b;
    }
    return T(acc);
}

template <class R, class CT>
static void test_complex(tblas_handle *h, const char *name,
                         tblas_status (*fn)(tblas_handle *, tblas_operation, tblas_operation, int64_t, int64_t, int64_t,
                                            const CT *, const CT *, int64_t, int64_t, const CT *, int64_t, int64_t,
                                            const CT *, CT *, int64_t, int64_t, int64_t)) {
    using C = std::complex<R>;
    const long m = 6, n = 5, k = 4, batch = 3, lda = 7, ldb = 7, ldc = 6;
    const long sa = lda * 7, sb = ldb * 7, sc = ldc * n;
    std::mt19937 gen(7);
    std::uniform_real_distribution<R> d(-1, 1);
    std::vector<C> a(sa * batch), b(sb * batch), c(sc * batch);
    for (auto &x : a) x = C(d(gen), d(gen));
    for (auto &x : b) x = C(d(gen), d(gen));
    for (int ta = 0; ta < 3; ++ta)
        for (int tb = 0; tb < 3; ++tb) {
            for (auto &x : c) x = C(d(gen), d(gen));
            const std::vector<C> c0 = c;
            const C alpha(0.5, -1.25), beta(2, 0.5);
            tblas_status st = fn(h, ta, tb, m, n, k, reinterpret_cast<const CT *>(&alpha),
                                 reinterpret_cast<const CT *>(a.data()), lda, sa,
                                 reinterpret_cast<const CT *>(b.data()), ldb, sb, reinterpret_cast<const CT *>(&beta),
                                 reinterpret_cast<CT *>(c.data()), ldc, sc, batch);
            check(st == TBLAS_STATUS_SUCCESS, name);
            double maxerr = 0;
            for (long p = 0; p < batch; ++p)
                for (long j = 0; j < n; ++j)
                    for (long i = 0; i < m; ++i) {
                        C want = alpha * ref_elem(ta, tb, i, j, p, k, a, lda, sa, b, ldb, sb) +
                                 beta * c0[p * sc + i + j * ldc];
                        maxerr = std::max(maxerr, (double)std::abs(c[p * sc + i + j * ldc] - want));
                    }
            check(maxerr < 64 * std::numeric_limits<R>::epsilon() * 8, name);
        }
}

int main() {
    tblas_handle *raw = nullptr;
    if (tblas_create(&raw) != TBLAS_STATUS_SUCCESS) {
        std::fprintf(stderr, "tblas_create failed: %s\n", tblas_get_last_error_message());
        return 1;
    }
    Handle h(raw);
    std::printf("tensorblas C++17 caller\n");
    test_complex<float, tblas_complex_float>(h.get(), "cgemm_strided_batched", tblas_cgemm_strided_batched);
    test_complex<double, tblas_complex_double>(h.get(), "zgemm_strided_batched", tblas_zgemm_strided_batched);

    // Real double, row-major through _ex: C(2x3) = A(2x2) * B(2x3).
    std::vector<double> a{1, 2, 3, 4}, b{1, 0, 2, 0, 1, 3}, c(6, -1);
    const double one = 1, zero = 0;
    check(tblas_dgemm_strided_batched_ex(h.get(), TBLAS_OP_N, TBLAS_OP_N, 2, 3, 2, &one, a.data(), 2, 1, 0, b.data(),
                                         3, 1, 0, &zero, c.data(), 3, 1, 0, 1) == TBLAS_STATUS_SUCCESS,
          "dgemm_ex row-major");
    check(c == std::vector<double>{1, 2, 8, 3, 4, 18}, "dgemm_ex row-major values");

    // Errors: exact status and position, C untouched.
    std::vector<double> c0 = c;
    check(tblas_dgemm(h.get(), TBLAS_OP_T, TBLAS_OP_N, 2, 2, 3, &one, a.data(), 2, b.data(), 3, &zero, c.data(),
                      2) == TBLAS_STATUS_INVALID_VALUE && tblas_get_last_error_position() == 9,
          "dgemm lda < k");
    check(tblas_dgemm(h.get(), TBLAS_OP_N, TBLAS_OP_N, 2, 2, 2, &one, a.data(), 2, b.data(), 2, &zero,
                      nullptr, 2) == TBLAS_STATUS_INVALID_VALUE && tblas_get_last_error_position() == 13,
          "dgemm NULL C");
    check(std::strstr(tblas_get_last_error_message(), "(C)") != nullptr, "message names C");
    check(c == c0, "C untouched on error");
    int32_t nt = 0;
    check(tblas_set_num_threads(h.get(), 2) == 0 && tblas_get_num_threads(h.get(), &nt) == 0 && nt == 2, "threads");

    // Contraction, complex: batch (Hadamard) mode b, C_bmn = sum_k A_bmk B_bkn, row-major
    // operands (numpy layout) through explicit strides.
    {
        const long nb = 3, m = 2, k = 4, n = 3;
        std::vector<std::complex<double>> A(nb * m * k), B(nb * k * n), C(nb * m * n, {-7, 7});
        std::mt19937 gen(7);
        std::uniform_real_distribution<double> u(-1, 1);
        for (auto &x : A) x = {u(gen), u(gen)};
        for (auto &x : B) x = {u(gen), u(gen)};
        const int64_t ea[3] = {nb, m, k}, sa[3] = {m * k, k, 1};
        const int64_t eb[3] = {nb, k, n}, sb[3] = {k * n, n, 1};
        const int64_t ec[3] = {nb, m, n}, sc[3] = {m * n, n, 1};
        const std::complex<double> alpha{0.5, -1}, beta{0, 0};
        check(tblas_einsum(h.get(), TBLAS_C_64F, "bmk,bkn->bmn", &alpha, A.data(), ea, sa, B.data(), eb, sb, &beta,
                           C.data(), ec, sc) == TBLAS_STATUS_SUCCESS,
              "zeinsum bmk,bkn->bmn");
        double err = 0;
        for (long b = 0; b < nb; ++b)
            for (long i = 0; i < m; ++i)
                for (long j = 0; j < n; ++j) {
                    std::complex<double> s = 0;
                    for (long l = 0; l < k; ++l) s += A[b * m * k + i * k + l] * B[b * k * n + l * n + j];
                    err = std::max(err, std::abs(C[b * m * n + i * n + j] - alpha * s));
                }
        check(err < 1e-14, "zeinsum values");
        char plan[256];
        check(tblas_einsum_explain(h.get(), TBLAS_C_64F, "bmk,bkn->bmn", ea, sa, eb, sb, ec, sc, plan, sizeof plan) ==
                      TBLAS_STATUS_SUCCESS &&
                  std::strncmp(plan, "strided-batched over b(3)", 25) == 0,
              "explain: batched over the Hadamard mode");
        // Extent mismatch: extent_b (argument 9), C untouched.
        const int64_t bad[3] = {nb, k + 1, n};
        auto C0 = C;
        check(tblas_einsum(h.get(), TBLAS_C_64F, "bmk,bkn->bmn", &alpha, A.data(), ea, sa, B.data(), bad, sb, &beta,
                           C.data(), ec, sc) == TBLAS_STATUS_INVALID_VALUE &&
                  tblas_get_last_error_position() == 9 && C == C0,
              "zeinsum extent mismatch");
    }

    std::printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
