#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define N (256ul<<20)
static inline void st(char *p, __m512 x, int nt){
  if (nt==1){ _mm_stream_ps((float*)p, _mm512_castps512_ps128(x)); _mm_stream_ps((float*)(p+16), _mm512_extractf32x4_ps(x,1));
            _mm_stream_ps((float*)(p+32), _mm512_extractf32x4_ps(x,2)); _mm_stream_ps((float*)(p+48), _mm512_extractf32x4_ps(x,3)); }
  else if (nt==2) _mm512_stream_ps((float*)p, x);
  else _mm512_storeu_ps((float*)p, x);
}
int main(int argc, char**argv){
  size_t colb = argc>1? atol(argv[1]) : 1024; // column bytes (m*elem)
  int nr = argc>2? atoi(argv[2]) : 6;
  size_t seg = argc>3? atol(argv[3]) : 128; // block rows bytes
  int off = argc>4? atoi(argv[4]) : 16;
  char *a = aligned_alloc(64, N+64), *c0 = aligned_alloc(64, N/2+128);
  char *c = c0+off;
  memset(a, 1, N); memset(c0, 1, N/2+128);
  size_t blockb = colb*nr; // a block of nr columns
  for (int rep=0; rep<5; rep++){
    for (int nt=0; nt<3; nt++){
      if (nt==2 && off%64) continue;
      double t0=omp_get_wtime();
      #pragma omp parallel
      {
        int t=omp_get_thread_num(), T=omp_get_num_threads();
        size_t nb = (N/2)/blockb; size_t lo = nb/T*t, hi=nb/T*(t+1);
        for (size_t b=lo;b<hi;b++){
          char *cb = c + b*blockb; const char *ab = a + 2*b*blockb;
          for (size_t r=0;r<colb;r+=seg)
            for (int j=0;j<nr;j++)
              for (size_t v=0; v<seg; v+=64){
                size_t o = j*colb + r + v;
                st(cb+o, _mm512_add_ps(_mm512_load_ps((float*)(ab+2*o)),_mm512_load_ps((float*)(ab+2*o+64))), nt);
              }
        }
        _mm_sfence();
      }
      double t1=omp_get_wtime();
      printf("%s %.1f  ", nt==0?"reg":nt==1?"nt128":"nt512", 1.5*(N/2/blockb*blockb)*2/(t1-t0)/1e9/2*1);
    }
    printf("\n");
  }
}
