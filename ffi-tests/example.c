/* README example: a batch of 3 products C[p] = A[p] * B, with one B shared (stride_b = 0). */
#include <stdio.h>
#include "tensorblas.h"

int main(void) {
    enum { M = 2, N = 2, K = 2, BATCH = 3 };
    double A[M * K * BATCH], B[K * N] = {1, 0, 0, 2}, C[M * N * BATCH];  /* column-major */
    for (int i = 0; i < M * K * BATCH; i++) A[i] = i;
    const double alpha = 1.0, beta = 0.0;

    tblas_handle *h;
    if (tblas_create(&h) != TBLAS_STATUS_SUCCESS) return 1;
    tblas_status st = tblas_dgemm_strided_batched(h, TBLAS_OP_N, TBLAS_OP_N, M, N, K, &alpha,
                                                  A, M, M * K, B, K, 0, &beta, C, M, M * N, BATCH);
    if (st != TBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "%s (argument %d)\n", tblas_get_last_error_message(), tblas_get_last_error_position());
        return 1;
    }
    for (int p = 0; p < BATCH; p++)
        printf("C[%d] = [%g %g; %g %g]\n", p, C[p * 4], C[p * 4 + 2], C[p * 4 + 1], C[p * 4 + 3]);
    tblas_destroy(h);
    return 0;
}
