//! The instruction sets of tensorblas' own kernels, detected at run time.

use std::sync::OnceLock;

/// Instruction set of the small-matrix kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Isa {
    /// 512-bit AVX-512F kernels.
    Avx512,
    /// 256-bit AVX2 + FMA kernels.
    Avx2,
    /// Portable Rust (no explicit SIMD).
    Portable,
}

impl Isa {
    /// Whether this CPU can run the kernels of this instruction set.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Every instruction set this CPU supports, best first.
    pub fn all_supported() -> Vec<Isa> {
        [Isa::Avx512, Isa::Avx2, Isa::Portable]
            .into_iter()
            .filter(|i| i.is_supported())
            .collect()
    }

    /// The default for this CPU: `TBLAS_ISA` (`avx512`, `avx2`, `portable`) if set and supported,
    /// else the widest available (AVX-512F, then AVX2+FMA, then portable). On the project machine
    /// (AMD Zen 5, full-width 512-bit FMA) the AVX-512 kernels were 1.4-2.8x the AVX2 ones at
    /// 8-64 in `tensorblas-bench sweep --threads 1`.
    pub fn detect() -> Isa {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            if let Ok(v) = std::env::var("TBLAS_ISA") {
                if let Some(isa) = Isa::parse(&v).filter(|i| i.is_supported()) {
                    return isa;
                }
            }
            [Isa::Avx512, Isa::Avx2, Isa::Portable]
                .into_iter()
                .find(|i| i.is_supported())
                .unwrap_or(Isa::Portable)
        })
    }

    /// Parses `avx512`, `avx2` or `portable`.
    pub fn parse(s: &str) -> Option<Isa> {
        match s.trim().to_ascii_lowercase().as_str() {
            "avx512" | "avx512f" => Some(Isa::Avx512),
            "avx2" => Some(Isa::Avx2),
            "portable" | "scalar" => Some(Isa::Portable),
            _ => None,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Portable => "portable",
        }
    }
}

/// Whether this CPU runs AVX-512 on 256-bit units (each 512-bit FMA takes both of its two 256-bit
/// FMA pipes, so a 256-bit FMA costs half a 512-bit one): AMD's Zen 4 (family 19h with AVX-512F;
/// Zen 3, the other family 19h cores, has no AVX-512). Intel's AVX-512 cores and Zen 5 execute
/// 512-bit FMAs at full width.
pub(crate) fn avx512_on_256_bit_units() -> bool {
    static HALF: OnceLock<bool> = OnceLock::new();
    *HALF.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if !Isa::Avx512.is_supported() {
                return false;
            }
            // CPUID leaves 0 (vendor) and 1 (family) exist on every x86_64 CPU.
            let (v, f) = (std::arch::x86_64::__cpuid(0), std::arch::x86_64::__cpuid(1));
            let amd = [v.ebx, v.edx, v.ecx] == [0x6874_7541, 0x6974_6e65, 0x444d_4163]; // "AuthenticAMD"
            let base = (f.eax >> 8) & 0xf;
            let family = if base == 0xf {
                base + ((f.eax >> 20) & 0xff)
            } else {
                base
            };
            amd && family == 0x19
        }
        #[cfg(not(target_arch = "x86_64"))]
        false
    })
}
