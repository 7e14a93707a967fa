/* The README's GPU example as a complete program: a strided-batched SGEMM on a CUDA handle with
 * device memory from tensorblas itself (no CUDA runtime linked). Without a usable GPU it prints
 * "no GPU: <why>" and exits 0; tests/ffi_programs.rs runs it (TBLAS_REQUIRE_GPU=1: the GPU path
 * must run). A[p] = p*4 + [0 1; 2 3] (column-major), B = diag(1, 2), C[p] = A[p] B. */
#include <stdio.h>
#include <stdlib.h>
#include "tensorblas.h"

#define CHECK(call)                                                                        \
    do {                                                                                   \
        tblas_status s_ = (call);                                                          \
        if (s_ != TBLAS_STATUS_SUCCESS) {                                                  \
            printf("%s failed: %s\n", #call, tblas_get_last_error_message());              \
            return 1;                                                                      \
        }                                                                                  \
    } while (0)

int main(void) {
    enum { M = 2, N = 2, K = 2, BATCH = 3 };
    float a[M * K * BATCH], b[K * N] = {1, 0, 0, 2}, c[M * N * BATCH];
    for (int i = 0; i < M * K * BATCH; ++i) a[i] = (float)i;
    const float alpha = 1.0f, beta = 0.0f;

    tblas_handle *h = NULL;
    if (tblas_create_with_backend(&h, TBLAS_BACKEND_CUDA, 0) != TBLAS_STATUS_SUCCESS) {
        printf("no GPU: %s\n", tblas_get_last_error_message());
        return 0;
    }
    float *da, *db, *dc;
    CHECK(tblas_device_malloc(h, (void **)&da, sizeof a));
    CHECK(tblas_device_malloc(h, (void **)&db, sizeof b));
    CHECK(tblas_device_malloc(h, (void **)&dc, sizeof c));
    CHECK(tblas_memcpy_htod(h, da, a, sizeof a));
    CHECK(tblas_memcpy_htod(h, db, b, sizeof b));
    /* B is shared by every entry: stride_b = 0. The call is queued on the handle's stream. */
    CHECK(tblas_sgemm_strided_batched(h, TBLAS_OP_N, TBLAS_OP_N, M, N, K, &alpha, da, M, M * K, db, K, 0,
                                      &beta, dc, M, M * N, BATCH));
    CHECK(tblas_memcpy_dtoh(h, c, dc, sizeof c)); /* waits for the GEMM */
    printf("C[2] = [%g %g; %g %g]\n", c[8], c[10], c[9], c[11]);
    CHECK(tblas_device_free(h, da));
    CHECK(tblas_device_free(h, db));
    CHECK(tblas_device_free(h, dc));
    CHECK(tblas_destroy(h));
    return c[8] == 8 && c[9] == 9 && c[10] == 20 && c[11] == 22 ? 0 : 1;
}
