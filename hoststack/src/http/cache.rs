//! The file cache of one HTTP server, shared by its workers: whole files
//! kept in memory within a byte budget, the least recently used evicted
//! first. A file larger than the budget is never cached (the server
//! streams it from disk). Entries remember the length and modification
//! time they were read with; the server re-checks those against the file
//! system at most once per [`REVALIDATE`] and drops a changed entry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hashbrown::HashMap;

/// How long a cached entry is trusted without looking at the file.
pub const REVALIDATE: Duration = Duration::from_secs(1);

/// A cached file.
#[derive(Debug, Clone)]
pub struct Cached {
    pub data: Arc<[u8]>,
    pub modified: SystemTime,
}

#[derive(Debug)]
struct Entry {
    file: Cached,
    checked: Instant,
    tick: u64,
}

/// Counters and usage, for `show http static server`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub capacity: u64,
    pub used: u64,
    pub entries: usize,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

/// Files by path, bounded by bytes, LRU.
#[derive(Debug)]
pub struct FileCache {
    capacity: u64,
    used: u64,
    tick: u64,
    map: HashMap<PathBuf, Entry>,
    /// Use tick → path, oldest first.
    lru: BTreeMap<u64, PathBuf>,
    hits: u64,
    misses: u64,
    evictions: u64,
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// A fresh entry.
    Fresh(Cached),
    /// An entry to re-check against the file system (its length and time).
    Stale(u64, SystemTime),
    Miss,
}

impl FileCache {
    /// An empty cache of `capacity` bytes.
    pub fn new(capacity: u64) -> Self {
        FileCache {
            capacity,
            used: 0,
            tick: 0,
            map: HashMap::new(),
            lru: BTreeMap::new(),
            hits: 0,
            misses: 0,
            evictions: 0,
        }
    }

    /// Whether a file of `len` bytes may be cached.
    pub fn fits(&self, len: u64) -> bool {
        len <= self.capacity
    }

    fn touch(&mut self, path: &Path) {
        self.tick += 1;
        let tick = self.tick;
        if let Some(e) = self.map.get_mut(path) {
            self.lru.remove(&e.tick);
            e.tick = tick;
            self.lru.insert(tick, path.to_path_buf());
        }
    }

    /// The entry for `path` as of `now`.
    pub fn get(&mut self, path: &Path, now: Instant) -> Lookup {
        let Some(e) = self.map.get(path) else { return Lookup::Miss };
        if now.saturating_duration_since(e.checked) > REVALIDATE {
            return Lookup::Stale(e.file.data.len() as u64, e.file.modified);
        }
        let f = e.file.clone();
        self.hits += 1;
        self.touch(path);
        Lookup::Fresh(f)
    }

    /// After a [`Lookup::Stale`]: the file is unchanged, trust it again.
    pub fn revalidated(&mut self, path: &Path, now: Instant) -> Option<Cached> {
        let e = self.map.get_mut(path)?;
        e.checked = now;
        let f = e.file.clone();
        self.hits += 1;
        self.touch(path);
        Some(f)
    }

    /// Counts a request the cache could not answer (the file was read
    /// from disk or streamed).
    pub fn count_miss(&mut self) {
        self.misses += 1;
    }

    /// Drops `path`'s entry (the file changed or went away).
    pub fn remove(&mut self, path: &Path) {
        if let Some(e) = self.map.remove(path) {
            self.lru.remove(&e.tick);
            self.used -= e.file.data.len() as u64;
        }
    }

    /// Caches a file read at `now`, evicting the least recently used
    /// entries to make room. False (nothing cached) when it is larger than
    /// the whole cache.
    pub fn insert(&mut self, path: &Path, file: Cached, now: Instant) -> bool {
        let len = file.data.len() as u64;
        if !self.fits(len) {
            return false;
        }
        self.remove(path);
        while self.used + len > self.capacity {
            let Some((_, victim)) = self.lru.pop_first() else { break };
            if let Some(e) = self.map.remove(&victim) {
                self.used -= e.file.data.len() as u64;
                self.evictions += 1;
            }
        }
        self.tick += 1;
        self.used += len;
        self.lru.insert(self.tick, path.to_path_buf());
        self.map.insert(path.to_path_buf(), Entry { file, checked: now, tick: self.tick });
        true
    }

    /// Usage and counters.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            capacity: self.capacity,
            used: self.used,
            entries: self.map.len(),
            hits: self.hits,
            misses: self.misses,
            evictions: self.evictions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(n: usize) -> Cached {
        Cached { data: vec![7u8; n].into(), modified: SystemTime::UNIX_EPOCH }
    }

    #[test]
    fn lru_eviction_within_budget() {
        let now = Instant::now();
        let mut c = FileCache::new(100);
        assert!(c.insert(Path::new("a"), file(40), now));
        assert!(c.insert(Path::new("b"), file(40), now));
        // Using a makes b the oldest.
        assert!(matches!(c.get(Path::new("a"), now), Lookup::Fresh(_)));
        assert!(c.insert(Path::new("c"), file(40), now));
        assert!(matches!(c.get(Path::new("b"), now), Lookup::Miss));
        assert!(matches!(c.get(Path::new("a"), now), Lookup::Fresh(_)));
        assert!(matches!(c.get(Path::new("c"), now), Lookup::Fresh(_)));
        let s = c.stats();
        assert_eq!((s.used, s.entries, s.evictions), (80, 2, 1));
        // Exactly the budget evicts everything else.
        assert!(c.insert(Path::new("d"), file(100), now));
        assert_eq!((c.stats().used, c.stats().entries), (100, 1));
        // Larger than the budget: not cached, nothing evicted.
        assert!(!c.insert(Path::new("e"), file(101), now));
        assert_eq!((c.stats().used, c.stats().entries), (100, 1));
    }

    #[test]
    fn replace_and_remove_keep_usage_exact() {
        let now = Instant::now();
        let mut c = FileCache::new(1000);
        c.insert(Path::new("a"), file(300), now);
        c.insert(Path::new("a"), file(200), now);
        assert_eq!(c.stats().used, 200);
        c.remove(Path::new("a"));
        c.remove(Path::new("a"));
        assert_eq!((c.stats().used, c.stats().entries), (0, 0));
        for k in 0..1000 {
            c.insert(Path::new(&format!("f{}", k % 37)), file(k % 97 + 1), now);
            assert!(c.stats().used <= 1000);
        }
        let total: u64 = c.map.values().map(|e| e.file.data.len() as u64).sum();
        assert_eq!(total, c.stats().used);
        assert_eq!(c.lru.len(), c.map.len());
    }

    #[test]
    fn entries_go_stale_and_revalidate() {
        let t0 = Instant::now();
        let mut c = FileCache::new(100);
        c.insert(Path::new("a"), file(10), t0);
        let later = t0 + REVALIDATE + Duration::from_millis(1);
        assert!(matches!(c.get(Path::new("a"), later), Lookup::Stale(10, _)));
        assert!(c.revalidated(Path::new("a"), later).is_some());
        assert!(matches!(c.get(Path::new("a"), later), Lookup::Fresh(_)));
    }
}
