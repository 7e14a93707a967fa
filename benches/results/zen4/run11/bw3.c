#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define N (256ul<<20)
// read 2 bytes per byte written; C at 16 mod 64 (like malloc), run = scratch bytes
static void copy_nt(char *dst, const char *src, size_t len){
  size_t head = (64 - (size_t)dst % 64) % 64; if (head>len) head=len;
  memcpy(dst, src, head); dst+=head; src+=head; len-=head;
  size_t lines=len/64;
  for(size_t i=0;i<lines;i++) _mm512_stream_si512((void*)(dst+64*i), _mm512_loadu_si512(src+64*i));
  memcpy(dst+64*lines, src+64*lines, len-64*lines);
}
int main(){
  char *a = aligned_alloc(64, N+64), *c0 = aligned_alloc(64, N/2+128);
  char *c = c0+16;
  memset(a, 1, N); memset(c0, 1, N/2+128);
  size_t runs[] = {0, 1, 512, 2048, 4096, 16384};
  for (int rep=0; rep<5; rep++){
    for (int v=0; v<6; v++){
      size_t run = runs[v];
      double t0=omp_get_wtime();
      #pragma omp parallel
      {
        char scratch[16384+64] __attribute__((aligned(64)));
        int t=omp_get_thread_num(), T=omp_get_num_threads();
        size_t lo = (N/2)/T*t, hi=(N/2)/T*(t+1);
        if (run==0){ // regular unaligned stores interleaved
          for (size_t i=lo;i<hi;i+=64) _mm512_storeu_ps((float*)(c+i), _mm512_add_ps(_mm512_load_ps((float*)(a+2*i)),_mm512_load_ps((float*)(a+2*i+64))));
        } else if (run==1){ // NT interleaved, 128-bit pieces (c is 16-aligned)
          for (size_t i=lo;i<hi;i+=64){ __m512 x=_mm512_add_ps(_mm512_load_ps((float*)(a+2*i)),_mm512_load_ps((float*)(a+2*i+64)));
            _mm_stream_ps((float*)(c+i), _mm512_castps512_ps128(x)); _mm_stream_ps((float*)(c+i+16), _mm512_extractf32x4_ps(x,1));
            _mm_stream_ps((float*)(c+i+32), _mm512_extractf32x4_ps(x,2)); _mm_stream_ps((float*)(c+i+48), _mm512_extractf32x4_ps(x,3)); }
        } else {
          for (size_t i=lo;i<hi;i+=run){
            size_t e = i+run<hi? i+run: hi;
            for (size_t j=i;j<e;j+=64) _mm512_store_ps((float*)(scratch+(j-i)), _mm512_add_ps(_mm512_load_ps((float*)(a+2*j)),_mm512_load_ps((float*)(a+2*j+64))));
            copy_nt(c+i, scratch, e-i);
          }
        }
        _mm_sfence();
      }
      double t1=omp_get_wtime();
      printf("%s%zu %.1f  ", run==0?"reg":run==1?"nt128-":"scratch", run, 1.5*N/(t1-t0)/1e9);
    }
    printf("\n");
  }
}
