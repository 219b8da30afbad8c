//! Buffer allocation and free in bulk (256 at a time), per buffer.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rvpp_dataplane::buffer::{Backing, Buffers};
use rvpp_dataplane::BufferIndex;

fn alloc_free(c: &mut Criterion) {
    let arena = Buffers::new(16384, 2048, Backing::Pages).expect("arena");
    let mut t = arena.thread(0);
    let mut v = vec![BufferIndex(0); 256];
    // Warm the thread cache.
    assert_eq!(t.alloc(&mut v), 256);
    t.free(&v);
    let mut g = c.benchmark_group("buffers");
    g.throughput(Throughput::Elements(256));
    g.bench_function("alloc+free 256", |b| {
        b.iter(|| {
            let n = t.alloc(&mut v);
            t.free(&v[..n]);
            n
        })
    });
    // The shared-pool path: allocate and free more than a thread caches.
    let mut big = vec![BufferIndex(0); 4096];
    g.throughput(Throughput::Elements(4096));
    g.bench_function("alloc+free 4096 (pool refill/spill)", |b| {
        b.iter(|| {
            let n = t.alloc(&mut big);
            t.free(&big[..n]);
            n
        })
    });
    g.finish();
    let rounds = 200_000u64;
    let c0 = rvpp_dataplane::arch::rdtsc();
    for _ in 0..rounds {
        let n = t.alloc(&mut v);
        t.free(&v[..n]);
    }
    let cycles = (rvpp_dataplane::arch::rdtsc() - c0) as f64 / (rounds * 256) as f64;
    println!("buffers: alloc+free in bulk of 256: {cycles:.2} TSC cycles/buffer");
}

criterion_group!(benches, alloc_free);
criterion_main!(benches);
