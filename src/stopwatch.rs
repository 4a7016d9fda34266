//! The stopwatch behind the latency histograms. Two monotonic clock reads per command
//! were about a tenth of a check, so on x86_64 CPUs with an invariant time-stamp counter
//! it reads the counter instead, converted to nanoseconds by a ratio calibrated against
//! the monotonic clock when the module loads. Elsewhere (or before calibration) it is
//! `std::time::Instant`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Nanoseconds per counter tick, as a 32.32 fixed-point number; 0 when the counter is
/// not used.
static NS_PER_TICK: AtomicU64 = AtomicU64::new(0);

/// A running stopwatch.
#[derive(Clone, Copy, Debug)]
pub enum Start {
    /// The time-stamp counter's reading.
    Ticks(u64),
    /// The monotonic clock's.
    Clock(Instant),
}

/// Starts timing.
#[inline]
pub fn start() -> Start {
    if NS_PER_TICK.load(Relaxed) != 0 {
        Start::Ticks(ticks())
    } else {
        Start::Clock(Instant::now())
    }
}

/// Nanoseconds since `start`.
#[inline]
pub fn elapsed_ns(start: Start) -> u64 {
    match start {
        Start::Ticks(t0) => {
            let ticks = u128::from(ticks().saturating_sub(t0));
            ((ticks * u128::from(NS_PER_TICK.load(Relaxed))) >> 32).min(u128::from(u64::MAX)) as u64
        }
        Start::Clock(t0) => t0.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64,
    }
}

/// Switches to the time-stamp counter if the CPU has an invariant one; measures its
/// rate against the monotonic clock over `over` (a couple of milliseconds at load).
/// Returns whether the counter is now used.
pub fn calibrate(over: Duration) -> bool {
    if !invariant_counter() {
        return false;
    }
    let (t0, c0) = (Instant::now(), ticks());
    while t0.elapsed() < over {
        std::hint::spin_loop();
    }
    let (ns, ticks) = (
        t0.elapsed().as_nanos(),
        u128::from(ticks().saturating_sub(c0)),
    );
    // A rate outside 100 MHz ..= 10 GHz means the counter is not what it should be.
    if ticks == 0 || ticks * 10 < ns || ticks > ns * 10 {
        return false;
    }
    let ratio = (ns << 32) / ticks;
    NS_PER_TICK.store(ratio.min(u128::from(u64::MAX)) as u64, Relaxed);
    true
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn ticks() -> u64 {
    // SAFETY: RDTSC exists on every x86_64 CPU; it only reads a counter.
    unsafe { std::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn ticks() -> u64 {
    0
}

/// CPUID 0x8000_0007, EDX bit 8: the counter runs at a constant rate in every state.
#[cfg(target_arch = "x86_64")]
fn invariant_counter() -> bool {
    use std::arch::x86_64::__cpuid;
    // The extended leaf is read only when the CPU reports it.
    __cpuid(0x8000_0000).eax >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0
}

#[cfg(not(target_arch = "x86_64"))]
fn invariant_counter() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_sleep_within_reason_either_way() {
        // Before calibration the monotonic clock is used; after it, the counter (on a
        // CPU that has an invariant one). Both must see a 20 ms sleep as 20..1000 ms.
        for calibrated in [false, true] {
            if calibrated {
                calibrate(Duration::from_millis(5));
            }
            let s = start();
            std::thread::sleep(Duration::from_millis(20));
            let ns = elapsed_ns(s);
            assert!(
                (20_000_000..1_000_000_000).contains(&ns),
                "calibrated {calibrated}: {ns} ns"
            );
        }
    }
}
