//! The floor under the host kernel's time: what one core pays for each 16-lane addition.
//!
//! The sparse JL kernel adds, for every coordinate and every nonzero, one 16-lane vector of
//! the transposed input into one accumulator slot. This program times that loop alone, on
//! one core, with the added vectors read in order from a 512 KiB buffer (one super-tile) and
//! the slots chosen by a hash, for accumulator tables from 4 KiB (in L1) to 2 MiB. It then
//! times the alternative of sorting each block's nonzeros into sub-blocks of 256 slots first,
//! which keeps the additions in L1 and the sums in the same order (same bits), with and
//! without the additions.
//!
//! ```text
//! cargo run --release -p fisher-jl --example addition_bound
//! ```
//!
//! `docs/benchmarks.md` ("What bounds the kernel") gives the figures of the development
//! machine and what they imply for the projection's throughput.

use std::hint::black_box;
use std::time::Instant;

/// Coordinates per super-tile, as in the kernel.
const TILE: usize = 8192;

/// Sixteen lanes on one cache line, as in the kernel.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Lanes([f32; 16]);

impl Lanes {
    #[inline(always)]
    fn add(&mut self, x: &Lanes) {
        let (mut sum, x) = (self.0, x.0);
        for (a, b) in sum.iter_mut().zip(x) {
            *a += b;
        }
        self.0 = sum;
    }
}

/// SplitMix64's finaliser: a well-mixed 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Best of five timings of `f`, in nanoseconds per addition.
fn best_ns(additions: usize, mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e9 / additions as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Adds `xt[jj]` into `slots[entries[jj]]` for every coordinate, in order.
#[inline(always)]
fn direct(xt: &[Lanes], entries: &[u32], slots: &mut [Lanes]) {
    for (x, &e) in xt.iter().zip(entries) {
        slots[e as usize].add(x);
    }
}

/// The same additions after a stable counting sort of the entries into sub-blocks of
/// `1 << shift` slots; `add` false stops after the sort.
#[inline(always)]
fn partitioned(
    xt: &[Lanes],
    entries: &[u32],
    shift: u32,
    slots: &mut [Lanes],
    sorted: &mut [u32],
    add: bool,
) {
    let parts = slots.len() >> shift;
    let mut starts = vec![0usize; parts + 1];
    for &e in entries {
        starts[(e >> shift) as usize + 1] += 1;
    }
    for p in 1..=parts {
        starts[p] += starts[p - 1];
    }
    for (jj, &e) in entries.iter().enumerate() {
        let part = (e >> shift) as usize;
        sorted[starts[part]] = jj as u32 | ((e & ((1 << shift) - 1)) << 16);
        starts[part] += 1;
    }
    if !add {
        return;
    }
    let mut from = 0;
    for (part, &end) in starts[..parts].iter().enumerate() {
        let block = &mut slots[part << shift..(part + 1) << shift];
        for &packed in &sorted[from..end] {
            block[(packed >> 16) as usize].add(&xt[(packed & 0xFFFF) as usize]);
        }
        from = end;
    }
}

/// `reps` rounds of [`direct`] or of [`partitioned`], compiled for the processor's widest
/// vectors by [`pulp::Arch::dispatch`], as the kernel's loops are.
struct Rounds<'a> {
    xt: &'a [Lanes],
    entries: &'a [u32],
    slots: &'a mut [Lanes],
    reps: usize,
    /// `None`: direct; `Some((sorted, add))`: partitioned into 256-slot sub-blocks.
    partition: Option<(&'a mut [u32], bool)>,
}

impl pulp::NullaryFnOnce for Rounds<'_> {
    type Output = ();

    #[inline(always)]
    fn call(self) {
        let Self {
            xt,
            entries,
            slots,
            reps,
            partition,
        } = self;
        match partition {
            None => {
                for _ in 0..reps {
                    direct(black_box(xt), black_box(entries), slots);
                }
            }
            Some((sorted, add)) => {
                for _ in 0..reps {
                    partitioned(xt, black_box(entries), 8, slots, sorted, add);
                }
            }
        }
    }
}

/// Best of five timings of `reps` rounds over one super-tile, in nanoseconds per nonzero:
/// direct additions, or (`partition` given) the sort into sub-blocks, then the additions if
/// its flag is set.
fn time_rounds(
    arch: pulp::Arch,
    xt: &[Lanes],
    entries: &[u32],
    slots: &mut [Lanes],
    reps: usize,
    mut partition: Option<(&mut [u32], bool)>,
) -> f64 {
    best_ns(reps * TILE, || {
        arch.dispatch(Rounds {
            xt,
            entries,
            slots: &mut *slots,
            reps,
            partition: partition
                .as_mut()
                .map(|(sorted, add)| (&mut **sorted, *add)),
        })
    })
}

fn main() {
    // Compiled for the widest vectors the processor has, as the kernel is.
    let arch = pulp::Arch::new();
    let xt: Vec<Lanes> = (0..TILE).map(|j| Lanes([j as f32 * 1e-3; 16])).collect();
    let reps = 200;

    println!("one core, 16-lane additions read in order from a 512 KiB super-tile:");
    for slots_len in [64usize, 256, 512, 1024, 2048, 8192, 32768] {
        let entries: Vec<u32> = (0..TILE)
            .map(|j| (mix(j as u64) % slots_len as u64) as u32)
            .collect();
        let mut slots = vec![Lanes::default(); slots_len];
        let ns = time_rounds(arch, &xt, &entries, &mut slots, reps, None);
        let kib = slots_len * 64 / 1024;
        println!("  table of {kib:>5} KiB: {ns:.2} ns per addition");
        black_box(&slots);
    }

    // One block of the default kind at k = 4096, s = 4: 1024 rows, two slots each (128 KiB).
    let block = 2048;
    let entries: Vec<u32> = (0..TILE)
        .map(|j| (mix(j as u64 ^ 0x5eed) % block as u64) as u32)
        .collect();
    let mut sorted = vec![0u32; TILE];
    let mut slots = vec![Lanes::default(); block];
    let ns_direct = time_rounds(arch, &xt, &entries, &mut slots, reps, None);
    let mut sorting = |add| {
        time_rounds(
            arch,
            &xt,
            &entries,
            &mut slots,
            reps,
            Some((&mut sorted, add)),
        )
    };
    let (ns_sort, ns_sorted) = (sorting(false), sorting(true));
    println!("one 128 KiB block (k = 4096, s = 4), per nonzero:");
    println!("  added in coordinate order          {ns_direct:.2} ns");
    println!("  sorted into 16 KiB sub-blocks only {ns_sort:.2} ns");
    println!("  sorted, then added                 {ns_sorted:.2} ns");
    black_box(&slots);
}
