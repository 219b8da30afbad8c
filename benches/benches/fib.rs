//! FIB longest-prefix match, per lookup: the IPv4 mtrie with one route and
//! with 1 M random /24../32 routes, the IPv6 table with /128 + /64 + /0.
//! Also prints the time to bulk-load the 1 M routes and their memory; that
//! time is mostly the kernel's page faults for ~1 GB of new plies.
//!
//! Lookups run over a batch of destinations (as a node does over a frame),
//! so independent cache misses overlap; figures are per lookup.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rvpp_graph_nodes::ip::fib::mtrie4::Mtrie4;
use rvpp_graph_nodes::ip::fib::table6::Table6;

const BATCH: usize = 1024;
const ROUTES: usize = 1_000_000;

/// Deterministic xorshift64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `n` random /24../32 routes, value = index.
fn random_routes(rng: &mut Rng, n: usize) -> Vec<(u32, u8, u32)> {
    (0..n)
        .map(|i| {
            let r = rng.next();
            (r as u32, 24 + (r >> 32) as u8 % 9, i as u32)
        })
        .collect()
}

/// A random address inside each of `n` random routes.
fn destinations(rng: &mut Rng, routes: &[(u32, u8, u32)], n: usize) -> Vec<u32> {
    (0..n)
        .map(|_| {
            let r = rng.next();
            let (p, len, _) = routes[(r % routes.len() as u64) as usize];
            let host = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
            (p & !host) | ((r >> 32) as u32 & host)
        })
        .collect()
}

fn mtrie4(c: &mut Criterion) {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut g = c.benchmark_group("mtrie4");
    g.throughput(Throughput::Elements(BATCH as u64));

    let one = Mtrie4::new(0);
    one.insert(0x0a00_0000, 8, 1);
    let dst: Vec<u32> = (0..BATCH).map(|_| rng.next() as u32).collect();
    g.bench_function("lookup, 1 route", |b| b.iter(|| dst.iter().fold(0, |acc, &a| acc ^ one.lookup(black_box(a)))));

    let routes = random_routes(&mut rng, ROUTES);
    let big = Mtrie4::new(0);
    let t0 = Instant::now();
    big.insert_many(&routes);
    let bulk = t0.elapsed();
    println!(
        "mtrie4 insert_many of {} random /24../32 routes: {:.3} s ({:.0} ns/route); \
         {} plies, {:.0} MiB",
        big.len(),
        bulk.as_secs_f64(),
        bulk.as_nanos() as f64 / ROUTES as f64,
        big.plies_in_use(),
        big.memory_bytes() as f64 / f64::from(1 << 20),
    );
    let dst = destinations(&mut rng, &routes, BATCH);
    g.bench_function("lookup, 1M routes", |b| b.iter(|| dst.iter().fold(0, |acc, &a| acc ^ big.lookup(black_box(a)))));
    g.finish();
}

fn table6(c: &mut Criterion) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // 1000 /64 subnets with 16 /128 hosts each, and a default route.
    let mut t = Table6::new();
    t.insert(0, 0, 1);
    let mut hosts = Vec::new();
    let mut nets = Vec::new();
    for i in 0..1000u128 {
        let net = (0x2001_0db8_0000_0000u128 | (rng.next() as u128 & 0xffff_ffff)) << 64;
        t.insert(net, 64, 2 + i as u32);
        nets.push(net);
        for _ in 0..16 {
            let host = net | u128::from(rng.next());
            t.insert(host, 128, 100_000 + hosts.len() as u32);
            hosts.push(host);
        }
    }
    // A third each: a /128 hit, a /64 hit (miss on /128), the default.
    let dst: Vec<u128> = (0..BATCH)
        .map(|i| {
            let r = rng.next();
            match i % 3 {
                0 => hosts[(r % hosts.len() as u64) as usize],
                1 => nets[(r % nets.len() as u64) as usize] | u128::from(rng.next()),
                _ => (u128::from(r) << 64) | u128::from(rng.next()),
            }
        })
        .collect();
    let mut g = c.benchmark_group("table6");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("lookup, /128 + /64 + /0", |b| {
        b.iter(|| dst.iter().fold(0, |acc, &a| acc ^ t.lookup(black_box(a)).unwrap_or(0)))
    });
    g.finish();
}

criterion_group!(benches, mtrie4, table6);
criterion_main!(benches);
