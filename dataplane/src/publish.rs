//! Read-mostly tables published by the control plane to workers as
//! immutable snapshots swapped atomically (RCU style): a worker loads the
//! current snapshot once per frame and never blocks; the main thread builds a
//! new version and stores it.

use std::sync::Arc;

use arc_swap::ArcSwap;

/// A snapshot as a worker holds it.
pub type Snapshot<T> = Arc<T>;

/// A published table: cheap to clone, one writer (the main thread).
pub struct Published<T>(Arc<ArcSwap<T>>);

impl<T> Clone for Published<T> {
    fn clone(&self) -> Self {
        Published(self.0.clone())
    }
}

impl<T: Default> Default for Published<T> {
    fn default() -> Self {
        Published::new(T::default())
    }
}

impl<T> Published<T> {
    pub fn new(v: T) -> Self {
        Published(Arc::new(ArcSwap::from_pointee(v)))
    }
    /// The current version.
    #[inline]
    pub fn load(&self) -> Snapshot<T> {
        self.0.load_full()
    }
    /// Publishes a new version; readers see it from their next load.
    pub fn store(&self, v: T) {
        self.0.store(Arc::new(v));
    }
    /// Copies the current version, changes it, publishes the result.
    pub fn update(&self, f: impl FnOnce(&mut T))
    where
        T: Clone,
    {
        let mut v = (*self.load()).clone();
        f(&mut v);
        self.store(v);
    }
}
