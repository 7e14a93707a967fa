! tensorblas — Fortran 2003 module (iso_c_binding) for the C ABI in tensorblas.h.
! Hand-written; every exported function has a bind(C) interface here, with the same names and
! argument order as the C header. Column-major, integer(c_int64_t) sizes, scalars by reference.
!
!   use tensorblas
!   type(c_ptr) :: h
!   status = tblas_create(h)
!   status = tblas_dgemm_strided_batched(h, TBLAS_OP_N, TBLAS_OP_N, m, n, k, alpha, a, lda, &
!            stride_a, b, ldb, stride_b, beta, c, ldc, stride_c, batch)
!   status = tblas_destroy(h)
!
! Compile: gfortran -c include/tensorblas.f90 (gives tensorblas.mod), then link libtensorblas.a.
module tensorblas
  use, intrinsic :: iso_c_binding
  implicit none
  private :: c_strlen

  integer(c_int32_t), parameter :: TBLAS_STATUS_SUCCESS = 0
  integer(c_int32_t), parameter :: TBLAS_STATUS_NOT_INITIALIZED = 1
  integer(c_int32_t), parameter :: TBLAS_STATUS_ALLOC_FAILED = 3
  integer(c_int32_t), parameter :: TBLAS_STATUS_INVALID_VALUE = 7
  integer(c_int32_t), parameter :: TBLAS_STATUS_ARCH_MISMATCH = 8
  integer(c_int32_t), parameter :: TBLAS_STATUS_EXECUTION_FAILED = 13
  integer(c_int32_t), parameter :: TBLAS_STATUS_INTERNAL_ERROR = 14
  integer(c_int32_t), parameter :: TBLAS_STATUS_NOT_SUPPORTED = 15
  integer(c_int32_t), parameter :: TBLAS_STATUS_BACKEND_UNAVAILABLE = 100

  integer(c_int32_t), parameter :: TBLAS_OP_N = 0
  integer(c_int32_t), parameter :: TBLAS_OP_T = 1
  integer(c_int32_t), parameter :: TBLAS_OP_C = 2

  integer(c_int32_t), parameter :: TBLAS_BACKEND_CPU = 0
  integer(c_int32_t), parameter :: TBLAS_BACKEND_CUDA = 1

  integer(c_int32_t), parameter :: TBLAS_R_32F = 0
  integer(c_int32_t), parameter :: TBLAS_R_64F = 1
  integer(c_int32_t), parameter :: TBLAS_C_32F = 2
  integer(c_int32_t), parameter :: TBLAS_C_64F = 3
  integer(c_int32_t), parameter :: TBLAS_MAX_MODES = 32

  interface
    ! ---- handle, errors, version ----
    function tblas_create(handle) result(status) bind(C, name="tblas_create")
      import :: c_ptr, c_int32_t
      type(c_ptr), intent(out) :: handle
      integer(c_int32_t) :: status
    end function

    function tblas_create_with_backend(handle, backend, device) result(status) &
        bind(C, name="tblas_create_with_backend")
      import :: c_ptr, c_int32_t
      type(c_ptr), intent(out) :: handle
      integer(c_int32_t), value :: backend, device
      integer(c_int32_t) :: status
    end function

    function tblas_destroy(handle) result(status) bind(C, name="tblas_destroy")
      import :: c_ptr, c_int32_t
      type(c_ptr), value :: handle
      integer(c_int32_t) :: status
    end function

    function tblas_set_num_threads(handle, n) result(status) bind(C, name="tblas_set_num_threads")
      import :: c_ptr, c_int32_t
      type(c_ptr), value :: handle
      integer(c_int32_t), value :: n
      integer(c_int32_t) :: status
    end function

    function tblas_get_num_threads(handle, n) result(status) bind(C, name="tblas_get_num_threads")
      import :: c_ptr, c_int32_t
      type(c_ptr), value :: handle
      integer(c_int32_t), intent(out) :: n
      integer(c_int32_t) :: status
    end function

    function tblas_set_stream(handle, cuda_stream) result(status) bind(C, name="tblas_set_stream")
      import :: c_ptr, c_int32_t
      type(c_ptr), value :: handle, cuda_stream
      integer(c_int32_t) :: status
    end function

    function tblas_synchronize(handle) result(status) bind(C, name="tblas_synchronize")
      import :: c_ptr, c_int32_t
      type(c_ptr), value :: handle
      integer(c_int32_t) :: status
    end function

    ! Device memory of a CUDA handle (TBLAS_STATUS_NOT_SUPPORTED on CPU handles).
    function tblas_device_malloc(handle, ptr, bytes) result(status) bind(C, name="tblas_device_malloc")
      import :: c_ptr, c_int32_t, c_size_t
      type(c_ptr), value :: handle
      type(c_ptr) :: ptr
      integer(c_size_t), value :: bytes
      integer(c_int32_t) :: status
    end function

    function tblas_device_free(handle, ptr) result(status) bind(C, name="tblas_device_free")
      import :: c_ptr, c_int32_t
      type(c_ptr), value :: handle, ptr
      integer(c_int32_t) :: status
    end function

    function tblas_memcpy_htod(handle, dst, src, bytes) result(status) bind(C, name="tblas_memcpy_htod")
      import :: c_ptr, c_int32_t, c_size_t
      type(c_ptr), value :: handle, dst, src
      integer(c_size_t), value :: bytes
      integer(c_int32_t) :: status
    end function

    function tblas_memcpy_dtoh(handle, dst, src, bytes) result(status) bind(C, name="tblas_memcpy_dtoh")
      import :: c_ptr, c_int32_t, c_size_t
      type(c_ptr), value :: handle, dst, src
      integer(c_size_t), value :: bytes
      integer(c_int32_t) :: status
    end function

    function tblas_status_string(status) result(text) bind(C, name="tblas_status_string")
      import :: c_ptr, c_int32_t
      integer(c_int32_t), value :: status
      type(c_ptr) :: text
    end function

    function tblas_get_last_error_position() result(pos) bind(C, name="tblas_get_last_error_position")
      import :: c_int32_t
      integer(c_int32_t) :: pos
    end function

    function tblas_get_last_error_message() result(text) bind(C, name="tblas_get_last_error_message")
      import :: c_ptr
      type(c_ptr) :: text
    end function

    subroutine tblas_get_version(major, minor, patch) bind(C, name="tblas_get_version")
      import :: c_int32_t
      integer(c_int32_t), intent(out) :: major, minor, patch
    end subroutine

    function c_strlen(s) result(n) bind(C, name="strlen")
      import :: c_ptr, c_size_t
      type(c_ptr), value :: s
      integer(c_size_t) :: n
    end function

    ! ---- s: real(c_float) ----
    function tblas_sgemm(handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc) &
        result(status) bind(C, name="tblas_sgemm")
      import :: c_ptr, c_int32_t, c_int64_t, c_float
      type(c_ptr), value :: handle
      integer(c_int32_t), value :: transa, transb
      integer(c_int64_t), value :: m, n, k, lda, ldb, ldc
      real(c_float), intent(in) :: alpha, beta, A(*), B(*)
      real(c_float), intent(inout) :: C(*)
      integer(c_int32_t) :: status
    end function

    function tblas_sgemm_batched(handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, &
        ldc, batch_count) result(status) bind(C, name="tblas_sgemm_batched")
      import :: c_ptr, c_int32_t, c_int64_t, c_float
      type(c_ptr), value :: handle
      integer(c_int32_t), value :: transa, transb
      integer(c_int64_t), value :: m, n, k, lda, ldb, ldc, batch_count
      real(c_float), intent(in) :: alpha, beta
      type(c_ptr), intent(in) :: A(*), B(*), C(*)   ! arrays of c_loc(matrix)
      integer(c_int32_t) :: status
    end function

    function tblas_sgemm_strided_batched(handle, transa, transb, m, n, k, alpha, A, lda, stride_a, &
        B, ldb, stride_b, beta, C, ldc, stride_c, batch_count) result(status) &
        bind(C, name="tblas_sgemm_strided_batched")
      import :: c_ptr, c_int32_t, c_int64_t, c_float
      type(c_ptr), value :: handle
      integer(c_int32_t), value :: transa, transb
      integer(c_int64_t), value :: m, n, k, lda, stride_a, ldb, stride_b, ldc, stride_c, batch_count
      real(c_float), intent(in) :: alpha, beta, A(*), B(*)
      real(c_float), intent(inout) :: C(*)
      integer(c_int32_t) :: status
    end function

    function tblas_sgemm_strided_batched_ex(handle, transa, transb, m, n, k, alpha, A, rs_a, cs_a, &
        bs_a, B, rs_b, cs_b, bs_b, beta, C, rs_c, cs_c, bs_c, batch_count) result(status) &
        bind(C, name="tblas_sgemm_strided_batched_ex")
      import :: c_ptr, c_int32_t, c_int64_t, c_float
      type(c_ptr), value :: handle
      integer(c_int32_t), value :: transa, transb
      integer(c_int64_t), value :: m, n, k, rs_a, cs_a, bs_a, rs_b, cs_b, bs_b, rs_c, cs_c, bs_c
      integer(c_int64_t), value :: batch_count
      real(c_float), intent(in) :: alpha, beta, A(*), B(*)   ! element (0,0) of entry 0: negative strides
      real(c_float), intent(inout) :: C(*)                   ! address memory before it
      integer(c_int32_t) :: status
    end function

    ! ---- d: real(c_double) ----
    function tblas_dgemm(handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc) &
        result(status) bind(C, name="tblas_dgemm")
      import :: c_ptr, c_int32_t, c_int64_t, c_double
      type(c_ptr), value :: handle
      integer(c_int32_t), value :: transa, transb
      integer(c_int64_t), value :: m, n, k, lda, ldb, ldc
      real(c_double), intent(in) :: alpha, beta, A(*), B(*)
      real(c_double), intent(inout) :: C(*)
      integer(c_int32_t) :: status
    end function

    function tblas_dgemm_batched(handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, &
        ldc, batch_count) result(status) bind(C, name="tblas_dgemm_batched")
      import :: c_ptr, c_int32_t, c_int64_t, c_double
      type(c_ptr), value :: handle
      integer(c_int32_t), value :: transa, transb
      integer(c_int64_t), value :: m, n, k, lda, ldb, ldc, batch_count
      real(c_double), intent(in) :: alpha, beta
      type(c_ptr), intent(in) :: A(*), B(*), C(*)   ! arrays of c_loc(matrix)
      integer(c_int32_t) :: status
    end function

    function tblas_dgemm_strided_batched(handle, transa, transb, m, n, k, alpha, A, lda, stride_a, &
        B, ldb, stride_b, beta, C, ldc, stride_c, batch_count) result(status) &
        bind(C, name="tblas_dgemm_strided_batched")
      import :: c_ptr, c_int32_t, c_int64_t, c_double
      type(c_ptr), value :: handle
      integer(c_int32_t), value :: transa, transb
      integer(c_int64_t), value :: m, n, k, lda, stride_a, ldb, stride_b, ldc, stride_c, batch_count
      real(c_double), intent(in) :: alpha, beta, A(*), B(*)
      real(c_double), intent(inout) :: C(*)
      integer(c_int32_t) :: status
    end function

    function tblas_dgemm_strided_batched_ex(handle, transa, transb, m, n, k, alpha, A, rs_a, cs_a, &
        bs_a, B, rs_b, cs_b, bs_b, beta, C, rs_c, cs_c, bs_c, batch_count) result(status) &
        bind(C, name="tblas_dgemm_strided_batched_ex")
      import :: c_ptr, c_int32_t, c_int64_t, c_double
      type(c_ptr), value :: handle
      integer(c_int32_t), value :: transa, transb
      integer(c_int64_t), value :: m, n, k, rs_a, cs_a, bs_a, rs_b, cs_b, bs_b, rs_c, cs_c, bs_c
      integer(c_int64_t), value :: batch_count
      real(c_double), intent(in) :: alpha, beta, A(*), B(*)   ! element (0,0) of entry 0: negative strides
      real(c_double), intent(inout) :: C(*)                   ! address memory before it
      integer(c_int32_t) :: status
    end function

    ! ---- c: complex(c_float_complex) ----
    function tblas_cgemm(handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc) &
        result(status) bind(C, name="tblas_cgemm")
      import :: c_ptr, c_int32_t, c_int64_t, c_float_complex
      type(c_ptr), value :: handle
      integer(c_int32_t), value :: transa, transb
      integer(c_int64_t), value :: m, n, k, lda, ldb, ldc
      complex(c_float_complex), intent(in) :: alpha, beta, A(*), B(*)
      complex(c_float_complex), intent(inout) :: C(*)
      integer(c_int32_t) :: status
    end function

    function tblas_cgemm_batched(handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, &
        ldc, batch_count) result(status) bind(C, name="tblas_cgemm_batched")
      import :: c_ptr, c_int32_t, c_int64_t, c_float_complex
      type(c_ptr), value :: handle
      integer(c_int32_t), value :: transa, transb
      integer(c_int64_t), value :: m, n, k, lda, ldb, ldc, batch_count
      complex(c_float_complex), intent(in) :: alpha, beta
      type(c_ptr), intent(in) :: A(*), B(*), C(*)   ! arrays of c_loc(matrix)
      integer(c_int32_t) :: status
    end function

    function tblas_cgemm_strided_batched(handle, transa, transb, m, n, k, alpha, A, lda, stride_a, &
        B, ldb, stride_b, beta, C, ldc, stride_c, batch_count) result(status) &
        bind(C, name="tblas_cgemm_strided_batched")
      import :: c_ptr, c_int32_t, c_int64_t, c_float_complex
      type(c_ptr), value :: handle
      integer(c_int32_t), value :: transa, transb
      integer(c_int64_t), value :: m, n, k, lda, stride_a, ldb, stride_b, ldc, stride_c, batch_count
      complex(c_float_complex), intent(in) :: alpha, beta, A(*), B(*)
      complex(c_float_complex), intent(inout) :: C(*)
      integer(c_int32_t) :: status
    end function

    function tblas_cgemm_strided_batched_ex(handle, transa, transb, m, n, k, alpha, A, rs_a, cs_a, &
        bs_a, B, rs_b, cs_b, bs_b, beta, C, rs_c, cs_c, bs_c, batch_count) result(status) &
        bind(C, name="tblas_cgemm_strided_batched_ex")
      import :: c_ptr, c_int32_t, c_int64_t, c_float_complex
      type(c_ptr), value :: handle
      integer(c_int32_t), value :: transa, transb
      integer(c_int64_t), value :: m, n, k, rs_a, cs_a, bs_a, rs_b, cs_b, bs_b, rs_c, cs_c, bs_c
      integer(c_int64_t), value :: batch_count
      complex(c_float_complex), intent(in) :: alpha, beta, A(*), B(*)   ! element (0,0) of entry 0: negative strides
      complex(c_float_complex), intent(inout) :: C(*)                   ! address memory before it
      integer(c_int32_t) :: status
    end function

    ! ---- z: complex(c_double_complex) ----
    function tblas_zgemm(handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc) &
        result(status) bind(C, name="tblas_zgemm")
      import :: c_ptr, c_int32_t, c_int64_t, c_double_complex
      type(c_ptr), value :: handle
      integer(c_int32_t), value :: transa, transb
      integer(c_int64_t), value :: m, n, k, lda, ldb, ldc
      complex(c_double_complex), intent(in) :: alpha, beta, A(*), B(*)
      complex(c_double_complex), intent(inout) :: C(*)
      integer(c_int32_t) :: status
    end function

    function tblas_zgemm_batched(handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, &
        ldc, batch_count) result(status) bind(C, name="tblas_zgemm_batched")
      import :: c_ptr, c_int32_t, c_int64_t, c_double_complex
      type(c_ptr), value :: handle
      integer(c_int32_t), value :: transa, transb
      integer(c_int64_t), value :: m, n, k, lda, ldb, ldc, batch_count
      complex(c_double_complex), intent(in) :: alpha, beta
      type(c_ptr), intent(in) :: A(*), B(*), C(*)   ! arrays of c_loc(matrix)
      integer(c_int32_t) :: status
    end function

    function tblas_zgemm_strided_batched(handle, transa, transb, m, n, k, alpha, A, lda, stride_a, &
        B, ldb, stride_b, beta, C, ldc, stride_c, batch_count) result(status) &
        bind(C, name="tblas_zgemm_strided_batched")
      import :: c_ptr, c_int32_t, c_int64_t, c_double_complex
      type(c_ptr), value :: handle
      integer(c_int32_t), value :: transa, transb
      integer(c_int64_t), value :: m, n, k, lda, stride_a, ldb, stride_b, ldc, stride_c, batch_count
      complex(c_double_complex), intent(in) :: alpha, beta, A(*), B(*)
      complex(c_double_complex), intent(inout) :: C(*)
      integer(c_int32_t) :: status
    end function

    function tblas_zgemm_strided_batched_ex(handle, transa, transb, m, n, k, alpha, A, rs_a, cs_a, &
        bs_a, B, rs_b, cs_b, bs_b, beta, C, rs_c, cs_c, bs_c, batch_count) result(status) &
        bind(C, name="tblas_zgemm_strided_batched_ex")
      import :: c_ptr, c_int32_t, c_int64_t, c_double_complex
      type(c_ptr), value :: handle
      integer(c_int32_t), value :: transa, transb
      integer(c_int64_t), value :: m, n, k, rs_a, cs_a, bs_a, rs_b, cs_b, bs_b, rs_c, cs_c, bs_c
      integer(c_int64_t), value :: batch_count
      complex(c_double_complex), intent(in) :: alpha, beta, A(*), B(*)   ! element (0,0) of entry 0: negative strides
      complex(c_double_complex), intent(inout) :: C(*)                   ! address memory before it
      integer(c_int32_t) :: status
    end function

    ! Tensor contraction (docs/contraction.md). Scalars and tensors are passed as c_ptr (c_loc(x)) so
    ! that one interface serves every type; modes are int32 labels; stride arrays may be
    ! c_null_ptr (packed column-major) - pass them as c_loc(strides) otherwise.
    function tblas_contract(handle, type, alpha, A, nmode_a, modes_a, extent_a, stride_a, &
        B, nmode_b, modes_b, extent_b, stride_b, beta, C, nmode_c, modes_c, extent_c, stride_c) &
        result(status) bind(C, name="tblas_contract")
      import :: c_ptr, c_int32_t, c_int64_t
      type(c_ptr), value :: handle, alpha, A, B, beta, C, stride_a, stride_b, stride_c
      integer(c_int32_t), value :: type, nmode_a, nmode_b, nmode_c
      integer(c_int32_t), intent(in) :: modes_a(*), modes_b(*), modes_c(*)
      integer(c_int64_t), intent(in) :: extent_a(*), extent_b(*), extent_c(*)
      integer(c_int32_t) :: status
    end function

    ! spec: e.g. "mk,knp->mnp" // c_null_char
    function tblas_einsum(handle, type, spec, alpha, A, extent_a, stride_a, B, extent_b, stride_b, &
        beta, C, extent_c, stride_c) result(status) bind(C, name="tblas_einsum")
      import :: c_ptr, c_int32_t, c_int64_t, c_char
      type(c_ptr), value :: handle, alpha, A, B, beta, C, stride_a, stride_b, stride_c
      integer(c_int32_t), value :: type
      character(kind=c_char), intent(in) :: spec(*)
      integer(c_int64_t), intent(in) :: extent_a(*), extent_b(*), extent_c(*)
      integer(c_int32_t) :: status
    end function

    function tblas_einsum_explain(handle, type, spec, extent_a, stride_a, extent_b, stride_b, &
        extent_c, stride_c, buf, buf_len) result(status) bind(C, name="tblas_einsum_explain")
      import :: c_ptr, c_int32_t, c_int64_t, c_char, c_size_t
      type(c_ptr), value :: handle, stride_a, stride_b, stride_c
      integer(c_int32_t), value :: type
      character(kind=c_char), intent(in) :: spec(*)
      integer(c_int64_t), intent(in) :: extent_a(*), extent_b(*), extent_c(*)
      character(kind=c_char), intent(out) :: buf(*)
      integer(c_size_t), value :: buf_len
      integer(c_int32_t) :: status
    end function
  end interface

contains

  !> The C string at `p` as a Fortran string ("" for NULL).
  function tblas_c_string(p) result(s)
    type(c_ptr), intent(in) :: p
    character(len=:), allocatable :: s
    character(kind=c_char), pointer :: chars(:)
    integer :: i, n
    if (.not. c_associated(p)) then
      s = ""
      return
    end if
    n = int(c_strlen(p))
    call c_f_pointer(p, chars, [n])
    allocate(character(len=n) :: s)
    do i = 1, n
      s(i:i) = chars(i)
    end do
  end function

  !> This thread's last error message as a Fortran string.
  function tblas_last_error_message() result(s)
    character(len=:), allocatable :: s
    s = tblas_c_string(tblas_get_last_error_message())
  end function
end module tensorblas
