//! Work spread over every core: hashing layers when planning, writing
//! them when assembling, hashing and reading them ahead when streaming.
//! One pool serves all three: [`in_order`] hands results over in item
//! order while the workers go on; [`on_every_core`] collects them all.

use anyhow::Result;
use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard};

/// Runs `work` on every item on every core, and hands each result to
/// `consume` (on the calling thread) in item order, as soon as it and
/// every earlier one are done. No worker starts an item more than
/// `ahead` items past the one `consume` waits for: that bounds what the
/// finished results not yet consumed hold. After an error (of `work`
/// or `consume`) no further item is started, and the first error seen
/// is returned.
pub fn in_order<T: Sync, R: Send>(
    items: &[T],
    ahead: usize,
    work: impl Fn(&T) -> Result<R> + Sync,
    mut consume: impl FnMut(R) -> Result<()>,
) -> Result<()> {
    let pool = Pool {
        state: Mutex::new(State {
            next: 0,
            waited: 0,
            done: BTreeMap::new(),
            failed: None,
            stop: false,
        }),
        changed: Condvar::new(),
        ahead: ahead.max(1),
        len: items.len(),
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..threads.min(items.len()) {
            s.spawn(|| {
                while let Some(k) = pool.take() {
                    pool.finish(k, work(&items[k]));
                }
            });
        }
        let consumed = (0..items.len()).try_for_each(|k| consume(pool.result(k)?));
        if consumed.is_err() {
            pool.stop();
        }
        consumed
    })
}

/// Runs `work` on every item on every core, the biggest (by `weight`,
/// ties in item order) first, and returns the results in item order.
/// After an error no further item is started, and the first error is
/// returned.
pub fn on_every_core<T: Sync, R: Send>(
    items: &[T],
    weight: impl Fn(&T) -> u64,
    work: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_cached_key(|&i| std::cmp::Reverse(weight(&items[i])));
    let mut results: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    in_order(
        &order,
        usize::MAX,
        |&i| Ok((i, work(&items[i])?)),
        |(i, r)| {
            results[i] = Some(r);
            Ok(())
        },
    )?;
    Ok(results.into_iter().flatten().collect())
}

struct State<R> {
    /// The next item to start.
    next: usize,
    /// The item `consume` waits for.
    waited: usize,
    /// Results not yet consumed.
    done: BTreeMap<usize, R>,
    failed: Option<anyhow::Error>,
    stop: bool,
}

struct Pool<R> {
    state: Mutex<State<R>>,
    /// Signalled whenever a result arrives, one is taken, or work stops.
    changed: Condvar,
    ahead: usize,
    len: usize,
}

impl<R> Pool<R> {
    fn lock(&self) -> MutexGuard<'_, State<R>> {
        // A worker that panicked poisons the lock; the scope re-raises
        // its panic when it joins it, so the state is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, s: MutexGuard<'a, State<R>>) -> MutexGuard<'a, State<R>> {
        self.changed.wait(s).unwrap_or_else(|e| e.into_inner())
    }

    /// The next item for a worker, once it is within `ahead` of the one
    /// waited for; `None` when there is none left or work stopped.
    fn take(&self) -> Option<usize> {
        let mut s = self.lock();
        loop {
            if s.stop || s.next >= self.len {
                return None;
            }
            if s.next < s.waited.saturating_add(self.ahead) {
                s.next += 1;
                return Some(s.next - 1);
            }
            s = self.wait(s);
        }
    }

    fn finish(&self, k: usize, r: Result<R>) {
        let mut s = self.lock();
        match r {
            Ok(r) => {
                s.done.insert(k, r);
            }
            Err(e) => {
                s.failed.get_or_insert(e);
                s.stop = true;
            }
        }
        self.changed.notify_all();
    }

    /// Waits for item `k`'s result (or the first error).
    fn result(&self, k: usize) -> Result<R> {
        let mut s = self.lock();
        s.waited = k;
        self.changed.notify_all();
        loop {
            if let Some(e) = s.failed.take() {
                return Err(e);
            }
            if let Some(r) = s.done.remove(&k) {
                return Ok(r);
            }
            s = self.wait(s);
        }
    }

    fn stop(&self) {
        self.lock().stop = true;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::anyhow;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn results_come_in_item_order() {
        let items: Vec<u64> = (0..50).collect();
        let got = on_every_core(&items, |x| x % 7, |x| Ok(x * 2)).unwrap();
        assert_eq!(got, items.iter().map(|x| x * 2).collect::<Vec<_>>());
    }

    #[test]
    fn an_error_is_returned() {
        let items: Vec<u64> = (0..10).collect();
        let err = on_every_core(
            &items,
            |_| 0,
            |&x| {
                if x == 3 {
                    Err(anyhow!("item 3 failed"))
                } else {
                    Ok(())
                }
            },
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "item 3 failed");
    }

    #[test]
    fn in_order_hands_over_in_item_order_whatever_finishes_first() {
        let items: Vec<u64> = (0..40).collect();
        let mut got = Vec::new();
        in_order(
            &items,
            4,
            |&x| {
                // Later items finish first, often.
                std::thread::sleep(std::time::Duration::from_micros((40 - x) * 50));
                Ok(x)
            },
            |x| {
                got.push(x);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(got, items);
    }

    #[test]
    fn in_order_starts_no_item_more_than_ahead_past_the_one_waited_for() {
        let items: Vec<usize> = (0..30).collect();
        let consumed = AtomicUsize::new(0);
        let ahead = 3;
        in_order(
            &items,
            ahead,
            |&k| {
                let c = consumed.load(Ordering::SeqCst);
                assert!(k < c + ahead, "item {k} started with {c} consumed");
                Ok(k)
            },
            |_| {
                std::thread::sleep(std::time::Duration::from_micros(200));
                consumed.fetch_add(1, Ordering::SeqCst);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(consumed.into_inner(), items.len());
    }

    #[test]
    fn in_order_stops_starting_items_after_the_consumer_fails() {
        let items: Vec<usize> = (0..100).collect();
        let started = AtomicUsize::new(0);
        let err = in_order(
            &items,
            2,
            |&k| {
                started.fetch_add(1, Ordering::SeqCst);
                Ok(k)
            },
            |k| {
                if k == 5 {
                    Err(anyhow!("cannot write item 5"))
                } else {
                    Ok(())
                }
            },
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "cannot write item 5");
        // Items 0..=5 consumed, at most `ahead` more started.
        assert!(started.into_inner() <= 8);
    }

    #[test]
    fn in_order_returns_a_workers_error_and_consumes_nothing_after_it() {
        let items: Vec<usize> = (0..20).collect();
        let mut got = Vec::new();
        let err = in_order(
            &items,
            2,
            |&k| {
                if k == 7 {
                    Err(anyhow!("item 7 failed"))
                } else {
                    Ok(k)
                }
            },
            |k| {
                got.push(k);
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "item 7 failed");
        assert!(got.iter().all(|&k| k < 7), "{got:?}");
    }
}
