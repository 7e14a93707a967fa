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
    float s=0;
    #pragma omp parallel reduction(+:s)
    { __m512 x0=_mm512_setzero_ps(),x1=x0,x2=x0,x3=x0;
      #pragma omp for schedule(static)
      for (size_t i=0;i<N;i+=256){ x0=_mm512_add_ps(x0,_mm512_load_ps(a+i)); x1=_mm512_add_ps(x1,_mm512_load_ps(a+i+64)); x2=_mm512_add_ps(x2,_mm512_load_ps(a+i+128)); x3=_mm512_add_ps(x3,_mm512_load_ps(a+i+192)); }
      s += _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(x0,x1),_mm512_add_ps(x2,x3))); }
    double t1=omp_get_wtime();
    #pragma omp parallel for schedule(static)
    for (size_t i=0;i<N/2;i+=64) _mm512_stream_ps((float*)(c+i), _mm512_set1_ps((float)i));
    _mm_sfence(); double t2=omp_get_wtime();
    #pragma omp parallel for schedule(static)
    for (size_t i=0;i<N/2;i+=64) _mm512_store_ps((float*)(c+i), _mm512_set1_ps((float)i));
    double t3=omp_get_wtime();
    // mixed: read 2 bytes per 1 written (like A,B -> C), NT stores
    #pragma omp parallel for schedule(static)
    for (size_t i=0;i<N/2;i+=64) _mm512_stream_ps((float*)(c+i), _mm512_add_ps(_mm512_load_ps(a+2*i),_mm512_load_ps(a+2*i+64)));
    _mm_sfence(); double t4=omp_get_wtime();
    printf("read %.1f GB/s  nt-write %.1f  write %.1f (counted bytes)  read2+ntwrite1 %.1f GB/s  (s=%g)\n", N/(t1-t0)/1e9, N/2/(t2-t1)/1e9, N/2/(t3-t2)/1e9, 1.5*N/(t4-t3)/1e9, s);
  }
}
