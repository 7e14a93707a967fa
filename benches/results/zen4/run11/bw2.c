#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define N (512ul<<20)
int main(){
  char *a = aligned_alloc(64, N), *c = aligned_alloc(64, N/2);
  memset(a, 1, N); memset(c, 1, N/2);
  for (int rep=0; rep<8; rep++){
    double t0=omp_get_wtime();
    #pragma omp parallel for schedule(static)
    for (size_t i=0;i<N/2;i+=64) _mm512_store_ps((float*)(c+i), _mm512_add_ps(_mm512_load_ps(a+2*i),_mm512_load_ps(a+2*i+64)));
    double t1=omp_get_wtime();
    #pragma omp parallel for schedule(static)
    for (size_t i=0;i<N/2;i+=64) _mm512_stream_ps((float*)(c+i), _mm512_add_ps(_mm512_load_ps(a+2*i),_mm512_load_ps(a+2*i+64)));
    _mm_sfence(); double t2=omp_get_wtime();
    // 256-bit stores regular
    #pragma omp parallel for schedule(static)
    for (size_t i=0;i<N/2;i+=64) { __m256 x=_mm256_add_ps(_mm256_load_ps((float*)(a+2*i)),_mm256_load_ps((float*)(a+2*i+64))); __m256 y=_mm256_add_ps(_mm256_load_ps((float*)(a+2*i+32)),_mm256_load_ps((float*)(a+2*i+96)));
      _mm256_store_ps((float*)(c+i),x); _mm256_store_ps((float*)(c+i+32),y);}
    double t3=omp_get_wtime();
    printf("read2+write1: regular %.1f  nt %.1f  regular256 %.1f GB/s (counted)\n", 1.5*N/(t1-t0)/1e9, 1.5*N/(t2-t1)/1e9, 1.5*N/(t3-t2)/1e9);
  }
}
