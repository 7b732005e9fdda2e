//! Which vector instructions a byte pass (the prefilter's lowering) may use on this CPU: chosen
//! at run time, so one image runs on every x86-64 CPU and uses AVX2 where there is one.

/// The widest vector instructions a pass may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Simd {
    Avx2,
    Sse2,
    /// A byte at a time: other CPUs, and the tests' reference on x86-64.
    #[cfg_attr(all(target_arch = "x86_64", not(test)), allow(dead_code))]
    None,
}

impl Simd {
    pub(crate) fn detect() -> Simd {
        #[cfg(target_arch = "x86_64")]
        {
            // The standard library caches the answer: one atomic load a call.
            if std::arch::is_x86_feature_detected!("avx2") {
                return Simd::Avx2;
            }
            Simd::Sse2
        }
        #[cfg(not(target_arch = "x86_64"))]
        Simd::None
    }

    /// Every variant this machine can run, the byte loop first (for tests).
    #[cfg(test)]
    pub(crate) fn variants() -> Vec<Simd> {
        let mut all = vec![Simd::None];
        if cfg!(target_arch = "x86_64") {
            all.push(Simd::Sse2);
        }
        if Simd::detect() == Simd::Avx2 {
            all.push(Simd::Avx2);
        }
        all
    }
}
