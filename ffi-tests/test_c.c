/* C11 caller of tensorblas: results against its own tiny oracle, error statuses and positions.
 * Build: cc -std=c11 -Wall -Wextra -Werror -Iinclude ffi-tests/test_c.c libtensorblas.a <libs>
 * Prints "N passed, N failed"; exit status 1 on any failure. */
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensorblas.h"

static int passed, failed;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            passed++;                                                      \
        } else {                                                           \
            failed++;                                                      \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
            fprintf(stderr, __VA_ARGS__);                                  \
            fprintf(stderr, " (last error: %s)\n", tblas_get_last_error_message()); \
        }                                                                  \
    } while (0)

/* The oracle: element (i,j) of entry p of X at X[p*bs + i*rs + j*cs]; op applied by index swap,
 * conj for op C. Works in double complex for every type; values are widened by the caller. */
static double complex oracle_elem(int ta, int tb, long i, long j, long p, long k, const double complex *A,
                                  long rsa, long csa, long bsa, const double complex *B, long rsb, long csb,
                                  long bsb) {
    double complex acc = 0;
    for (long l = 0; l < k; l++) {
        double complex a = ta == 0 ? A[p * bsa + i * rsa + l * csa] : A[p * bsa + l * rsa + i * csa];
        double complex b = tb == 0 ? B[p * bsb + l * rsb + j * csb] : B[p * bsb + j * rsb + l * csb];
        if (ta == 2) a = conj(a);
        if (tb == 2) b = conj(b);
        acc += a * b;
    }
    return acc;
}

static double rnd(void) { return (double)rand() / RAND_MAX * 2.0 - 1.0; }

enum { M = 5, N = 4, K = 3, BATCH = 3, LD = 6, SA = LD * 6, SB = LD * 6, SC = LD * N + 1, LEN = SA * BATCH + 8 };

/* Strided batched, all 9 op pairs, one type. W is the widening from the C element type. */
#define TEST_STRIDED(T, PREFIX, IS_COMPLEX, EPS)                                                     \
    static void test_strided_##PREFIX(tblas_handle *h) {                                             \
        static T a[LEN], b[LEN], c[LEN], c0[LEN];                                                    \
        static double complex wa[LEN], wb[LEN];                                                      \
        for (int ta = 0; ta < 3; ta++)                                                               \
            for (int tb = 0; tb < 3; tb++) {                                                         \
                for (int i = 0; i < LEN; i++) {                                                      \
                    wa[i] = rnd() + (IS_COMPLEX ? rnd() * I : 0);                                    \
                    wb[i] = rnd() + (IS_COMPLEX ? rnd() * I : 0);                                    \
                    double complex wc = rnd() + (IS_COMPLEX ? rnd() * I : 0);                        \
                    SET(a[i], wa[i]); SET(b[i], wb[i]); SET(c[i], wc); c0[i] = c[i];                 \
                    wa[i] = GET(a[i]); wb[i] = GET(b[i]);                                            \
                }                                                                                    \
                T alpha, beta;                                                                       \
                SET(alpha, 0.75 + (IS_COMPLEX ? 0.5 * I : 0));                                       \
                SET(beta, -0.5);                                                                     \
                tblas_status st = tblas_##PREFIX##gemm_strided_batched(h, ta, tb, M, N, K, &alpha, a, LD, SA, b, \
                                                                       LD, SB, &beta, c, LD, SC, BATCH);          \
                CHECK(st == TBLAS_STATUS_SUCCESS, #PREFIX " strided ta=%d tb=%d status %d", ta, tb, st);  \
                double maxerr = 0;                                                                   \
                int untouched = 1;                                                                   \
                for (long p = 0; p < BATCH; p++)                                                     \
                    for (long j = 0; j < N; j++)                                                     \
                        for (long i = 0; i < M; i++) {                                               \
                            double complex want = GET(alpha) * oracle_elem(ta, tb, i, j, p, K, wa, 1, LD, SA, wb, 1, \
                                                                           LD, SB) + GET(beta) * GET(c0[p * SC + i + j * LD]); \
                            double err = cabs(GET(c[p * SC + i + j * LD]) - want);                   \
                            if (err > maxerr) maxerr = err;                                          \
                        }                                                                            \
                for (long idx = BATCH * SC; idx < LEN; idx++)                                        \
                    if (memcmp(&c[idx], &c0[idx], sizeof(T)) != 0) untouched = 0;                    \
                CHECK(maxerr < 64 * EPS, #PREFIX " strided ta=%d tb=%d max error %g", ta, tb, maxerr);  \
                CHECK(untouched, #PREFIX " strided: elements past the last entry changed");          \
            }                                                                                        \
    }

#define SET(x, v) ((x) = (float)creal(v))
#define GET(x) ((double complex)(x))
TEST_STRIDED(float, s, 0, 1.2e-7)
#undef SET
#undef GET
#define SET(x, v) ((x) = creal(v))
#define GET(x) ((double complex)(x))
TEST_STRIDED(double, d, 0, 2.3e-16)
#undef SET
#undef GET
#define SET(x, v) ((x).re = (float)creal(v), (x).im = (float)cimag(v))
#define GET(x) ((double)(x).re + (double)(x).im * I)
TEST_STRIDED(tblas_complex_float, c, 1, 1.2e-7)
#undef SET
#undef GET
#define SET(x, v) ((x).re = creal(v), (x).im = cimag(v))
#define GET(x) ((x).re + (x).im * I)
TEST_STRIDED(tblas_complex_double, z, 1, 2.3e-16)
#undef SET
#undef GET

static void test_gemm_batched_ex(tblas_handle *h) {
    /* gemm: 2x2 product; batched: two entries with pointer arrays; ex: row-major layout. */
    double a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, c[4] = {0};
    double one = 1, zero = 0;
    CHECK(tblas_dgemm(h, TBLAS_OP_N, TBLAS_OP_N, 2, 2, 2, &one, a, 2, b, 2, &zero, c, 2) == 0, "dgemm");
    CHECK(c[0] == 23 && c[1] == 34 && c[2] == 31 && c[3] == 46, "dgemm values %g %g %g %g", c[0], c[1], c[2], c[3]);

    float a0[1] = {2}, a1[1] = {3}, b0[1] = {5}, c0[1] = {1}, c1[1] = {1}, onef = 1;
    const float *ap[2] = {a0, a1}, *bp[2] = {b0, b0};
    float *cp[2] = {c0, c1};
    CHECK(tblas_sgemm_batched(h, 0, 0, 1, 1, 1, &onef, ap, 1, bp, 1, &onef, cp, 1, 2) == 0, "sgemm_batched");
    CHECK(c0[0] == 11 && c1[0] == 16, "sgemm_batched values %g %g", c0[0], c1[0]);

    /* Row-major C = A*B through _ex: rs = ld, cs = 1. */
    double ra[4] = {1, 2, 3, 4}, rb[4] = {5, 6, 7, 8}, rc[4] = {0};
    CHECK(tblas_dgemm_strided_batched_ex(h, 0, 0, 2, 2, 2, &one, ra, 2, 1, 0, rb, 2, 1, 0, &zero, rc, 2, 1, 0, 1) == 0,
          "dgemm_ex");
    CHECK(rc[0] == 19 && rc[1] == 22 && rc[2] == 43 && rc[3] == 50, "dgemm_ex row-major values");
}

static void test_errors(tblas_handle *h) {
    float a[16] = {0}, b[16] = {0}, c[16], c0[16], one = 1, zero = 0;
    for (int i = 0; i < 16; i++) c[i] = c0[i] = (float)i;
    tblas_status st = tblas_sgemm_strided_batched(h, 0, 0, 4, 2, 2, &one, a, 3, 0, b, 2, 0, &zero, c, 4, 8, 1);
    CHECK(st == TBLAS_STATUS_INVALID_VALUE && tblas_get_last_error_position() == 9, "lda error: %d at %d", st,
          tblas_get_last_error_position());
    CHECK(strcmp(tblas_get_last_error_message(),
                 "tblas_sgemm_strided_batched: argument 9 (lda) must be >= max(1, m) = 4, got 3") == 0,
          "message: %s", tblas_get_last_error_message());
    st = tblas_sgemm_strided_batched(NULL, 0, 0, 4, 2, 2, &one, a, 4, 0, b, 2, 0, &zero, c, 4, 8, 1);
    CHECK(st == TBLAS_STATUS_NOT_INITIALIZED && tblas_get_last_error_position() == 1, "NULL handle");
    st = tblas_sgemm_strided_batched(h, 5, 0, 4, 2, 2, &one, a, 4, 0, b, 2, 0, &zero, c, 4, 8, 1);
    CHECK(st == TBLAS_STATUS_INVALID_VALUE && tblas_get_last_error_position() == 2, "bad transa");
    st = tblas_sgemm_strided_batched(h, 0, 0, 4, 2, 2, &one, a, 4, 0, b, 2, 0, &zero, c, 4, 3, 2);
    CHECK(st == TBLAS_STATUS_INVALID_VALUE && tblas_get_last_error_position() == 17, "overlapping C entries");
    st = tblas_sgemm_strided_batched(h, 0, 0, 4, 2, 2, &one, a, 4, 0, b, 2, 0, NULL, c, 4, 8, 1);
    CHECK(st == TBLAS_STATUS_INVALID_VALUE && tblas_get_last_error_position() == 14, "NULL beta");
    CHECK(memcmp(c, c0, sizeof c) == 0, "C changed by failing calls");
    /* Valid: alpha = 0 with NULL A and B. */
    st = tblas_sgemm_strided_batched(h, 0, 0, 4, 2, 2, &zero, NULL, 4, 0, NULL, 2, 0, &zero, c, 4, 8, 1);
    CHECK(st == TBLAS_STATUS_SUCCESS && tblas_get_last_error_position() == 0 && c[0] == 0 && c[8] == 8,
          "alpha = 0 with NULL A/B");
    tblas_handle *cuda = NULL;
    /* A device ordinal no machine has: unavailable with or without a GPU; *handle not written. */
    CHECK(tblas_create_with_backend(&cuda, TBLAS_BACKEND_CUDA, 1 << 20) == TBLAS_STATUS_BACKEND_UNAVAILABLE && !cuda,
          "CUDA handle on a missing device");
    /* Device memory needs a CUDA handle. */
    void *dptr = NULL;
    CHECK(tblas_device_malloc(h, &dptr, 64) == TBLAS_STATUS_NOT_SUPPORTED && !dptr, "device_malloc on a CPU handle");
    CHECK(tblas_memcpy_htod(h, c, c0, sizeof c) == TBLAS_STATUS_NOT_SUPPORTED, "memcpy_htod on a CPU handle");
    CHECK(strlen(tblas_status_string(TBLAS_STATUS_INVALID_VALUE)) > 0, "status string");
}

/* Tensor contraction: C_mnp = A_mk B_knp (flattened GEMM) and C_mnp = A_nk B_pkm (one of the
 * 8 cases BLAS cannot express: a general-stride batched call), each against loops. */
static void test_contraction(tblas_handle *h) {
    enum { M = 3, N = 4, P = 5, K = 2 };
    double a[M * K], b[K * N * P], c[M * N * P], want[M * N * P], one = 1, zero = 0;
    for (int i = 0; i < M * K; i++) a[i] = (double)rand() / RAND_MAX - 0.5;
    for (int i = 0; i < K * N * P; i++) b[i] = (double)rand() / RAND_MAX - 0.5;
    const int64_t ea[2] = {M, K}, eb[3] = {K, N, P}, ec[3] = {M, N, P};
    const int32_t ma[2] = {'m', 'k'}, mb[3] = {'k', 'n', 'p'}, mc[3] = {'m', 'n', 'p'};
    for (int p = 0; p < P; p++)
        for (int n = 0; n < N; n++)
            for (int m = 0; m < M; m++) {
                double s = 0;
                for (int k = 0; k < K; k++) s += a[m + M * k] * b[k + K * (n + N * p)];
                want[m + M * (n + N * p)] = s;
            }
    tblas_status st = tblas_contract(h, TBLAS_R_64F, &one, a, 2, ma, ea, NULL, b, 3, mb, eb, NULL, &zero, c, 3, mc,
                                     ec, NULL);
    double err = 0;
    for (int i = 0; i < M * N * P; i++) err = fmax(err, fabs(c[i] - want[i]));
    CHECK(st == TBLAS_STATUS_SUCCESS && err < 1e-14, "tblas_contract mk,knp->mnp: status %d error %g", st, err);

    /* C_mnp = A_nk B_pkm via einsum, float. */
    float af[N * K], bf[P * K * M], cf[M * N * P], wf[M * N * P], onef = 1, zerof = 0;
    for (int i = 0; i < N * K; i++) af[i] = (float)rand() / RAND_MAX - 0.5f;
    for (int i = 0; i < P * K * M; i++) bf[i] = (float)rand() / RAND_MAX - 0.5f;
    const int64_t ea2[2] = {N, K}, eb2[3] = {P, K, M};
    for (int p = 0; p < P; p++)
        for (int n = 0; n < N; n++)
            for (int m = 0; m < M; m++) {
                float s = 0;
                for (int k = 0; k < K; k++) s += af[n + N * k] * bf[p + P * (k + K * m)];
                wf[m + M * (n + N * p)] = s;
            }
    st = tblas_einsum(h, TBLAS_R_32F, "nk,pkm->mnp", &onef, af, ea2, NULL, bf, eb2, NULL, &zerof, cf, ec, NULL);
    float errf = 0;
    for (int i = 0; i < M * N * P; i++) errf = fmaxf(errf, fabsf(cf[i] - wf[i]));
    CHECK(st == TBLAS_STATUS_SUCCESS && errf < 1e-5f, "tblas_einsum nk,pkm->mnp: status %d error %g", st, errf);
    char plan[512];
    st = tblas_einsum_explain(h, TBLAS_R_32F, "nk,pkm->mnp", ea2, NULL, eb2, NULL, ec, NULL, plan, sizeof plan);
    CHECK(st == TBLAS_STATUS_SUCCESS && strncmp(plan, "general-stride batched", 22) == 0 && strstr(plan, "no copy"),
          "explain: %s", plan);
    /* Errors: an output-only mode (argument 3, the spec), C untouched. */
    memcpy(wf, cf, sizeof cf);
    st = tblas_einsum(h, TBLAS_R_32F, "nk,pkm->mnx", &onef, af, ea2, NULL, bf, eb2, NULL, &zerof, cf, ec, NULL);
    CHECK(st == TBLAS_STATUS_INVALID_VALUE && tblas_get_last_error_position() == 3 &&
              memcmp(wf, cf, sizeof cf) == 0,
          "output-only mode: %d at %d: %s", st, tblas_get_last_error_position(), tblas_get_last_error_message());
    st = tblas_einsum_explain(h, TBLAS_R_32F, "nk,pkm->mnp", ea2, NULL, eb2, NULL, ec, NULL, plan, 4);
    CHECK(st == TBLAS_STATUS_INVALID_VALUE && tblas_get_last_error_position() == 11, "explain buffer too small");
}

int main(void) {
    tblas_handle *h = NULL;
    if (tblas_create(&h) != TBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "tblas_create failed: %s\n", tblas_get_last_error_message());
        return 1;
    }
    int32_t major, minor, patch;
    tblas_get_version(&major, &minor, &patch);
    printf("tensorblas %d.%d.%d (C11)\n", major, minor, patch);
    srand(42);
    test_strided_s(h);
    test_strided_d(h);
    test_strided_c(h);
    test_strided_z(h);
    test_gemm_batched_ex(h);
    test_errors(h);
    test_contraction(h);
    CHECK(tblas_destroy(h) == TBLAS_STATUS_SUCCESS, "destroy");
    CHECK(tblas_destroy(h) == TBLAS_STATUS_NOT_INITIALIZED, "double destroy is detected");
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
