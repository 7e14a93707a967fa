#!/usr/bin/env bash
# The one command to run on a GPU machine (see benches/gpu/README.md). Needs no Rust and no
# network: it runs the binaries that benches/gpu/prebuild.sh built into PREBUILT (default
# benches/gpu/prebuilt, carried to the machine by name) and writes everything under $OUT
# (default ./gpu-out):
#
#   summary.txt     GPU, driver, CUDA files loaded, each step's status and seconds, each test
#                   binary's passed/failed/ignored counts (written as it goes; printed last)
#   tests.log       the test binaries' output (TBLAS_REQUIRE_GPU=1: a skipped GPU test fails)
#   sweep.log       tensorblas-bench gpu's output
#   gpu.csv         the sweep, written row by row (a failure loses only the row in progress)
#   gpu-<dev>.md    the sweep's table
#   fft.txt         the FMM-FFT CLI (--repeat 3) on the GPU and on the CPU: reports and their agreement
#   narrow/         gpu.csv and the table of a second, short sweep with TBLAS_GPU_WIDE=0
#
# Each step runs under `timeout`. Budget (H200): tests about 2 min, sweep about 4 min, so that
# a second run fits in the same 15-minute device window. Exit status: 0 when every step passed.
#
#   bash benches/gpu/device-run.sh [PREBUILT] [-- extra tensorblas-bench gpu options]
set -uo pipefail
cd "$(dirname "$0")/../.."
pre="${1:-benches/gpu/prebuilt}"
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
sweep_args=("$@")
out="${OUT:-$PWD/gpu-out}"
mkdir -p "$out"
summary="$out/summary.txt"
: >"$summary"
: >"$out/tests.log"
status=0
note() { echo "$*" | tee -a "$summary"; }

if [ ! -d "$pre" ] || [ ! -e "$pre/MANIFEST" ]; then
    note "FAIL: no prebuilt folder at $pre (run benches/gpu/prebuild.sh and carry benches/gpu/prebuilt)"
    exit 2
fi
# Execute bits may not survive the trip.
chmod +x "$pre"/tensorblas-bench "$pre"/tensorblas-fft "$pre"/example_gpu "$pre"/tests/* 2>/dev/null

# CUDA 13 libraries: /usr/local/cuda first, then pip's nvidia packages (cuBLAS, NVRTC, cuFFT).
# One place first: cudarc asks for `libcublas.so` before `libcublas.so.13`, and only the toolkit
# has the unversioned name, so with pip's folder first the first H200 run loaded the toolkit's
# libcublas next to pip's libcublasLt (a mixed pair that only happened to agree).
syslibs=""
for d in /usr/local/cuda/lib64 /usr/local/cuda-13*/lib64; do
    [ -d "$d" ] && syslibs="${syslibs:+$syslibs:}$d"
done
piplibs=$(python3 - <<'PY' 2>/dev/null || true
import glob, os, sys
dirs = []
for p in sys.path:
    for pat in ("nvidia/cu13/lib", "nvidia/*/lib"):
        for d in sorted(glob.glob(os.path.join(p, pat))):
            if d not in dirs and any(glob.glob(os.path.join(d, l + ".so*")) for l in ("libcublas", "libnvrtc", "libcufft")):
                dirs.append(d)
print(":".join(dirs))
PY
)
libdirs="$syslibs${piplibs:+${syslibs:+:}$piplibs}"
export LD_LIBRARY_PATH="${libdirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export TBLAS_REQUIRE_GPU=1 TBLAS_REQUIRE_NVRTC=1 RUST_BACKTRACE=1

note "== tensorblas device run $(date -u +%Y-%m-%dT%H:%M:%SZ)"
note "prebuilt: $(head -1 "$pre/MANIFEST")"
note "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | head -1)"
note "host: $(uname -m), $(nproc) cores, $(ldd --version 2>&1 | head -1)"
note "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

# step NAME LIMIT LOG CMD...: runs CMD under timeout, appends its output to LOG, records status
# and seconds in the summary.
step() {
    local name="$1" limit="$2" log="$3"; shift 3
    local t0=$SECONDS rc
    echo "== $name (limit ${limit}s): $*" >>"$log"
    timeout -k 5 "$limit" "$@" >>"$log" 2>&1
    rc=$?
    local secs=$((SECONDS - t0)) verdict=ok
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then verdict="TIMEOUT"; elif [ $rc -ne 0 ]; then verdict="FAIL(rc=$rc)"; fi
    [ $rc -ne 0 ] && status=1
    note "$(printf '%-34s %-12s %4ss' "$name" "$verdict" "$secs")"
    return $rc
}

# 1. Test binaries: every ignored (GPU) test included; counts from libtest's result lines.
for t in lib gpu gpu_kernels fft_gpu; do
    bin="$pre/tests/$t"
    [ -x "$bin" ] || { note "missing test binary tests/$t"; status=1; continue; }
    mark=$(wc -l <"$out/tests.log")
    step "tests/$t" 150 "$out/tests.log" "$bin" --include-ignored --test-threads=4
    counts=$(tail -n +"$((mark + 1))" "$out/tests.log" | grep -o 'test result: .*' | tail -1)
    note "    ${counts:-no result line (crashed?)}"
    tail -n +"$((mark + 1))" "$out/tests.log" | grep -E '^test [^ ]+ \.\.\. FAILED|panicked at' | head -8 | sed 's/^/    /' | tee -a "$summary" >/dev/null
done
grep -h '^CUDA: ' "$out/tests.log" | head -1 | sed 's/^/tests /' | tee -a "$summary" >/dev/null

# 2. The README's C example (static library, device memory from tensorblas).
step "example_gpu (C ABI)" 60 "$out/tests.log" "$pre/example_gpu"
if ! grep -q 'C\[2\] = \[8 20; 9 22\]' "$out/tests.log"; then note "    example_gpu: expected 'C[2] = [8 20; 9 22]'"; status=1; fi

# 3. The FMM-FFT CLI on 4 partitions of the GPU against the CPU run, N = 2^20.
fftdir=$(mktemp -d)
python3 - "$fftdir/x.npy" <<'PY'
import sys, numpy as np
rng = np.random.default_rng(7)
np.save(sys.argv[1], (rng.standard_normal(1 << 20) + 1j * rng.standard_normal(1 << 20)).astype(np.complex128))
PY
for be in cuda cpu; do
    step "tensorblas-fft --backend $be" 120 "$out/fft.txt" "$pre/tensorblas-fft" "$fftdir/x.npy" --repeat 3 \
        --out "$fftdir/y_$be.npy" --devices 4 --backend "$be" --report "$fftdir/report_$be.json"
    cat "$fftdir/report_$be.json" >>"$out/fft.txt" 2>/dev/null
done
agree=$(python3 - "$fftdir" <<'PY' 2>&1
import sys, numpy as np
d = sys.argv[1]
x = np.load(d + "/x.npy"); ref = np.fft.fft(x)
for be in ("cuda", "cpu"):
    try:
        y = np.load(d + f"/y_{be}.npy")
        print(f"{be}: rel. L2 error vs numpy.fft {np.linalg.norm(y - ref) / np.linalg.norm(ref):.2e}")
    except Exception as e:
        print(f"{be}: no output ({e})")
PY
)
echo "$agree" >>"$out/fft.txt"
echo "$agree" | sed 's/^/    fft /' | tee -a "$summary" >/dev/null
grep -h '^CUDA: ' "$out/fft.txt" | head -1 | sed 's/^/fft /' | tee -a "$summary" >/dev/null
grep -h 's, .* bytes between devices' "$out/fft.txt" | sed 's/^/    /' | tee -a "$summary" >/dev/null
grep -h '^run [0-9]/' "$out/fft.txt" | tr '\n' ' ' | sed 's/^/    fft seconds per run (cuda, then cpu): /' | tee -a "$summary" >/dev/null; echo >>"$summary"

# 4. The GPU sweep (gpu.csv row by row; a hung step ends it after --step-timeout).
step "tensorblas-bench gpu" 300 "$out/sweep.log" "$pre/tensorblas-bench" gpu --out "$out" --step-timeout 60 "${sweep_args[@]}"
grep -h '^CUDA: \|^GPU: ' "$out/sweep.log" | sed 's/^/sweep /' | tee -a "$summary" >/dev/null
grep -h 'failed\|lost\|ran past' "$out/sweep.log" | head -5 | sed 's/^/    /' | tee -a "$summary" >/dev/null

# 5. The general-stride kernel with 64x64 tiles only (TBLAS_GPU_WIDE=0), f32 (the one type with a
#    128x128 kernel), sizes where that kernel runs: its `general` column against the sweep's.
mkdir -p "$out/narrow"
TBLAS_GPU_WIDE=0 step "tensorblas-bench gpu (64x64 tiles)" 120 "$out/sweep.log" "$pre/tensorblas-bench" gpu \
    --out "$out/narrow" --step-timeout 60 --types s --sizes 64,128,256,512,1024

note "== device run finished: status $status; files in $out: $(cd "$out" && ls | tr '\n' ' ')"
echo
echo "---- summary ($summary) ----"
tail -n 40 "$summary"
exit $status
