//! Golden header: regenerate `include/tensorblas.h` with cbindgen and fail on any difference.
//! To accept a deliberate change: `TBLAS_BLESS_HEADER=1 cargo test --test header`.

use std::path::Path;

#[test]
fn committed_header_matches_generated() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut out = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root)
        .with_config(config)
        .generate()
        .expect("cbindgen failed to generate the header")
        .write(&mut out);
    let generated = String::from_utf8(out).unwrap();
    let path = root.join("include/tensorblas.h");
    if std::env::var_os("TBLAS_BLESS_HEADER").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or(committed.lines().count().min(generated.lines().count()) + 1, |i| i + 1);
        panic!(
            "include/tensorblas.h differs from the header cbindgen generates from src/ffi (first difference at line {line}).\n\
             If the API change is intended, regenerate it with:\n    TBLAS_BLESS_HEADER=1 cargo test --test header\n\
             and commit include/tensorblas.h."
        );
    }
}

#[test]
fn header_declares_the_whole_contract() {
    // Every name of docs/c-api.md, spelled exactly.
    let h = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/tensorblas.h")).unwrap();
    let mut names: Vec<String> = [
        "typedef struct tblas_handle tblas_handle;",
        "typedef int32_t tblas_status;",
        "typedef int32_t tblas_operation;",
        "typedef int32_t tblas_backend;",
        "typedef int32_t tblas_datatype;",
        "#define TBLAS_STATUS_SUCCESS 0",
        "#define TBLAS_STATUS_NOT_INITIALIZED 1",
        "#define TBLAS_STATUS_ALLOC_FAILED 3",
        "#define TBLAS_STATUS_INVALID_VALUE 7",
        "#define TBLAS_STATUS_ARCH_MISMATCH 8",
        "#define TBLAS_STATUS_EXECUTION_FAILED 13",
        "#define TBLAS_STATUS_INTERNAL_ERROR 14",
        "#define TBLAS_STATUS_NOT_SUPPORTED 15",
        "#define TBLAS_STATUS_BACKEND_UNAVAILABLE 100",
        "#define TBLAS_OP_N 0",
        "#define TBLAS_OP_T 1",
        "#define TBLAS_OP_C 2",
        "#define TBLAS_BACKEND_CPU 0",
        "#define TBLAS_BACKEND_CUDA 1",
        "#define TBLAS_R_32F 0",
        "#define TBLAS_R_64F 1",
        "#define TBLAS_C_32F 2",
        "#define TBLAS_C_64F 3",
        "#define TBLAS_MAX_MODES 32",
        "tblas_status tblas_create(tblas_handle **handle);",
        "tblas_status tblas_create_with_backend(tblas_handle **handle, tblas_backend backend, int32_t device);",
        "tblas_status tblas_destroy(tblas_handle *handle);",
        "tblas_status tblas_set_num_threads(tblas_handle *handle, int32_t n);",
        "tblas_status tblas_get_num_threads(const tblas_handle *handle, int32_t *n);",
        "tblas_status tblas_set_stream(tblas_handle *handle, void *cuda_stream);",
        "tblas_status tblas_synchronize(tblas_handle *handle);",
        "const char *tblas_status_string(tblas_status status);",
        "int32_t tblas_get_last_error_position(void);",
        "const char *tblas_get_last_error_message(void);",
        "void tblas_get_version(int32_t *major, int32_t *minor, int32_t *patch);",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (p, s) in [
        ("s", "float"),
        ("d", "double"),
        ("c", "tblas_complex_float"),
        ("z", "tblas_complex_double"),
    ] {
        names.push(format!("tblas_status tblas_{p}gemm(tblas_handle *handle, tblas_operation transa, tblas_operation transb, int64_t m, int64_t n, int64_t k, const {s} *alpha, const {s} *A, int64_t lda, const {s} *B, int64_t ldb, const {s} *beta, {s} *C, int64_t ldc);"));
        names.push(format!("tblas_status tblas_{p}gemm_batched(tblas_handle *handle, tblas_operation transa, tblas_operation transb, int64_t m, int64_t n, int64_t k, const {s} *alpha, const {s} *const *A, int64_t lda, const {s} *const *B, int64_t ldb, const {s} *beta, {s} *const *C, int64_t ldc, int64_t batch_count);"));
        names.push(format!("tblas_status tblas_{p}gemm_strided_batched(tblas_handle *handle, tblas_operation transa, tblas_operation transb, int64_t m, int64_t n, int64_t k, const {s} *alpha, const {s} *A, int64_t lda, int64_t stride_a, const {s} *B, int64_t ldb, int64_t stride_b, const {s} *beta, {s} *C, int64_t ldc, int64_t stride_c, int64_t batch_count);"));
        names.push(format!("tblas_status tblas_{p}gemm_strided_batched_ex(tblas_handle *handle, tblas_operation transa, tblas_operation transb, int64_t m, int64_t n, int64_t k, const {s} *alpha, const {s} *A, int64_t rs_a, int64_t cs_a, int64_t bs_a, const {s} *B, int64_t rs_b, int64_t cs_b, int64_t bs_b, const {s} *beta, {s} *C, int64_t rs_c, int64_t cs_c, int64_t bs_c, int64_t batch_count);"));
    }
    // Only tblas_ names: the prefix rule of docs/c-api.md, and no imported vendor symbol leaks in.
    for line in h.lines() {
        let leaked_extern =
            line.starts_with("extern ") && !line.starts_with("extern \"C\"") && !line.contains("tblas_");
        let foreign_define = line.starts_with("#define ") && !line.contains("TBLAS_") && line != "#define TENSORBLAS_H";
        // Top-level function declarations start in column 0 with a return type and contain '('.
        let foreign_fn = !line.starts_with([' ', '*', '/', '#', '}']) && line.contains('(') && !line.contains("tblas_");
        assert!(
            !(leaked_extern || foreign_define || foreign_fn),
            "include/tensorblas.h declares a non-tblas name: {line}"
        );
    }
    // Compare modulo line breaks inside declarations.
    let flat = h.split_whitespace().collect::<Vec<_>>().join(" ");
    for n in names {
        let want = n.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(&want), "include/tensorblas.h lacks: {n}");
    }
}
