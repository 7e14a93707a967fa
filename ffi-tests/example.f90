! README example: C(:,:,p) = A(:,:,p) * B for p = 1..3, one B shared (stride_b = 0).
program example
  use, intrinsic :: iso_c_binding
  use tensorblas
  implicit none
  integer(c_int64_t), parameter :: m = 2, n = 2, k = 2, nb = 3
  real(c_double) :: a(m, k, nb), b(k, n), c(m, n, nb)
  type(c_ptr) :: h
  integer :: p

  a = reshape([(dble(p), p = 0, int(m*k*nb) - 1)], shape(a))
  b = reshape([1d0, 0d0, 0d0, 2d0], shape(b))
  if (tblas_create(h) /= TBLAS_STATUS_SUCCESS) stop 1
  if (tblas_dgemm_strided_batched(h, TBLAS_OP_N, TBLAS_OP_N, m, n, k, 1d0, a, m, m*k, &
      b, k, 0_c_int64_t, 0d0, c, m, m*n, nb) /= TBLAS_STATUS_SUCCESS) then
    print *, tblas_last_error_message()
    stop 1
  end if
  do p = 1, int(nb)
    print '("C(:,:,", i0, ") = ", 4f6.1)', p, c(:, :, p)
  end do
  if (tblas_destroy(h) /= TBLAS_STATUS_SUCCESS) stop 1
end program
