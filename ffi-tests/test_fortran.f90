! Fortran caller of tensorblas through module tensorblas (include/tensorblas.f90).
! Build: gfortran -Jbuild include/tensorblas.f90 ffi-tests/test_fortran.f90 libtensorblas.a <libs>
! Prints "N passed, N failed"; stops with code 1 on any failure.
program test_fortran
  use, intrinsic :: iso_c_binding
  use tensorblas
  implicit none
  integer :: passed = 0, failed = 0
  type(c_ptr) :: h
  integer(c_int32_t) :: st, major, minor, patch
  integer(c_int64_t), parameter :: m = 4, n = 3, k = 5, nb = 2
  real(c_double) :: a(m, k, nb), b(k, n), c(m, n, nb), want(m, n, nb), c0(m, n, nb)
  real(c_float) :: as(k, m), bs(k, n), cs(m, n), ws(m, n)
  complex(c_double_complex) :: za(k, m), zb(k, n), zc(m, n), zw(m, n)
  real(c_double) :: one = 1, zero = 0
  real(c_float) :: onef = 1, zerof = 0
  complex(c_double_complex) :: zone = (1, 0), zzero = (0, 0)
  type(c_ptr) :: cuda
  integer :: p
  ! Contraction: C(m,n,p) = sum_k T(m,k) * U(k,n,p), Fortran (column-major) arrays.
  real(c_double), target :: t3(m, k), u3(k, n, nb), v3(m, n, nb), w3(m, n, nb)
  real(c_double), target :: alpha_t = 1, beta_t = 0
  integer(c_int32_t) :: modes_t(2), modes_u(3), modes_v(3)
  integer(c_int64_t) :: ext_t(2), ext_u(3), ext_v(3)
  character(kind=c_char) :: planbuf(200)

  call check(tblas_create(h) == TBLAS_STATUS_SUCCESS, "create")
  call tblas_get_version(major, minor, patch)
  print '(a, i0, ".", i0, ".", i0)', "tensorblas (Fortran) ", major, minor, patch

  ! Strided batched: one B broadcast to both entries (stride_b = 0).
  call random_number(a)
  call random_number(b)
  c = -1
  st = tblas_dgemm_strided_batched(h, TBLAS_OP_N, TBLAS_OP_N, m, n, k, one, a, m, m*k, b, k, 0_c_int64_t, &
                                   zero, c, m, m*n, nb)
  call check(st == TBLAS_STATUS_SUCCESS, "dgemm_strided_batched status")
  do p = 1, int(nb)
    want(:, :, p) = matmul(a(:, :, p), b)
  end do
  call check(maxval(abs(c - want)) < 1d-13, "dgemm_strided_batched values")

  ! Transposed single precision: C = A^T * B.
  call random_number(as)
  call random_number(bs)
  st = tblas_sgemm(h, TBLAS_OP_T, TBLAS_OP_N, m, n, k, onef, as, k, bs, k, zerof, cs, m)
  ws = matmul(transpose(as), bs)
  call check(st == TBLAS_STATUS_SUCCESS .and. maxval(abs(cs - ws)) < 1e-5, "sgemm T,N")

  ! Complex: C = A^H * B.
  za = cmplx(reshape([(dble(p), p = 1, int(k*m))], [k, m]), 1d0, kind=c_double_complex) / 10
  zb = cmplx(1d0, reshape([(dble(p), p = 1, int(k*n))], [k, n]), kind=c_double_complex) / 10
  st = tblas_zgemm(h, TBLAS_OP_C, TBLAS_OP_N, m, n, k, zone, za, k, zb, k, zzero, zc, m)
  zw = matmul(conjg(transpose(za)), zb)
  call check(st == TBLAS_STATUS_SUCCESS .and. maxval(abs(zc - zw)) < 1d-13, "zgemm C,N")

  ! Errors: ldc too small is argument 16; C is untouched.
  c0 = c
  st = tblas_dgemm_strided_batched(h, TBLAS_OP_N, TBLAS_OP_N, m, n, k, one, a, m, m*k, b, k, 0_c_int64_t, &
                                   zero, c, m - 1, m*n, nb)
  call check(st == TBLAS_STATUS_INVALID_VALUE, "ldc error status")
  call check(tblas_get_last_error_position() == 16, "ldc error position")
  call check(index(tblas_last_error_message(), "(ldc)") > 0, "message names ldc: " // tblas_last_error_message())
  call check(all(c == c0), "C untouched on error")
  ! Contraction through tblas_contract (int labels) and tblas_einsum (spec).
  call random_number(t3)
  call random_number(u3)
  modes_t = [1, 3]
  modes_u = [3, 2, 4]
  modes_v = [1, 2, 4]
  ext_t = [m, k]
  ext_u = [k, n, nb]
  ext_v = [m, n, nb]
  v3 = -1
  st = tblas_contract(h, TBLAS_R_64F, c_loc(alpha_t), c_loc(t3), 2, modes_t, ext_t, c_null_ptr, &
                      c_loc(u3), 3, modes_u, ext_u, c_null_ptr, c_loc(beta_t), c_loc(v3), 3, modes_v, ext_v, &
                      c_null_ptr)
  do p = 1, int(nb)
    w3(:, :, p) = matmul(t3, u3(:, :, p))
  end do
  call check(st == TBLAS_STATUS_SUCCESS .and. maxval(abs(v3 - w3)) < 1d-13, "tblas_contract mk,knp->mnp")
  v3 = -1
  st = tblas_einsum(h, TBLAS_R_64F, "mk,knp->mnp" // c_null_char, c_loc(alpha_t), c_loc(t3), ext_t, c_null_ptr, &
                    c_loc(u3), ext_u, c_null_ptr, c_loc(beta_t), c_loc(v3), ext_v, c_null_ptr)
  call check(st == TBLAS_STATUS_SUCCESS .and. maxval(abs(v3 - w3)) < 1d-13, "tblas_einsum mk,knp->mnp")
  st = tblas_einsum_explain(h, TBLAS_R_64F, "mk,knp->mnp" // c_null_char, ext_t, c_null_ptr, ext_u, c_null_ptr, &
                            ext_v, c_null_ptr, planbuf, int(size(planbuf), c_size_t))
  call check(st == TBLAS_STATUS_SUCCESS .and. planbuf(1) == 'g' .and. planbuf(2) == 'e', "explain: a flat gemm")
  ! Output-only mode: argument 3 (spec), C untouched.
  w3 = v3
  st = tblas_einsum(h, TBLAS_R_64F, "mk,knp->mnx" // c_null_char, c_loc(alpha_t), c_loc(t3), ext_t, c_null_ptr, &
                    c_loc(u3), ext_u, c_null_ptr, c_loc(beta_t), c_loc(v3), ext_v, c_null_ptr)
  call check(st == TBLAS_STATUS_INVALID_VALUE .and. tblas_get_last_error_position() == 3 .and. all(v3 == w3), &
             "einsum output-only mode")

  st = tblas_create_with_backend(cuda, TBLAS_BACKEND_CUDA, 1048576_c_int32_t)
  call check(st == TBLAS_STATUS_BACKEND_UNAVAILABLE, "CUDA unavailable on a missing device")
  st = tblas_device_malloc(h, cuda, 64_c_size_t)
  call check(st == TBLAS_STATUS_NOT_SUPPORTED, "device_malloc on a CPU handle")
  call check(len(tblas_c_string(tblas_status_string(TBLAS_STATUS_SUCCESS))) > 0, "status string")

  call check(tblas_destroy(h) == TBLAS_STATUS_SUCCESS, "destroy")
  print '(i0, " passed, ", i0, " failed")', passed, failed
  if (failed /= 0) stop 1

contains

  subroutine check(ok, what)
    logical, intent(in) :: ok
    character(len=*), intent(in) :: what
    if (ok) then
      passed = passed + 1
    else
      failed = failed + 1
      write (0, '(a, a)') "FAIL: ", what
    end if
  end subroutine
end program
