//! The fan-out shared by both buses: one feed per tenant with subscribers, which reads the
//! tenant's committed events from the table after its high-water mark and hands each to the
//! subscribers whose filter it matches.
//!
//! Why read the table instead of passing the committed rows along: ids become visible in
//! commit order per tenant (DESIGN.md §7), so "everything after my mark" read from the table is
//! complete and in order whoever committed it, on this replica or another, and however the
//! news of the commit arrived (a local commit, a NOTIFY, a reconnect, the periodic re-read). A
//! poke only says "look again"; pokes that arrive during a read fold into one more read.
//!
//! Bounded: a subscriber's queue holds at most `buffer` events (shared, reference-counted
//! rows). When it is full the event is dropped for that subscriber alone and it is marked
//! lagged: its stream then catches up from the table (`stream`). Writers never wait for
//! subscribers, and one slow subscriber never holds up another.
//!
//! A tenant without subscribers has no feed and costs nothing.

use super::filter::EventFilter;
use super::store;
use super::stream::Live;
use entity::event;
use futures_util::Stream;
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// Events per read of a feed.
const FEED_PAGE: u64 = 500;
/// How often a feed reads even without a poke (a safety net for news that never came).
const RESCAN: Duration = Duration::from_secs(5);
/// How long a feed waits before retrying a failed read.
const RETRY: Duration = Duration::from_millis(500);

/// The tenants' feeds.
pub struct Hub {
    db: DatabaseConnection,
    buffer: usize,
    feeds: Mutex<HashMap<String, Arc<Feed>>>,
    next_slot: AtomicU64,
}

struct Feed {
    tenant: String,
    state: Mutex<FeedState>,
    wake: Notify,
}

struct FeedState {
    /// The id of the last event handed out; every event after it is still to come.
    mark: i64,
    slots: Vec<Slot>,
    /// Set when the feed stopped (no subscribers left); a subscriber that raced it retries.
    closed: bool,
}

struct Slot {
    id: u64,
    filter: EventFilter,
    tx: mpsc::Sender<Arc<event::Model>>,
    lagged: Arc<AtomicBool>,
}

/// One subscriber's live events: those after `start`, matching its filter.
pub struct LiveEvents {
    rx: mpsc::Receiver<Arc<event::Model>>,
    lagged: Arc<AtomicBool>,
    /// The feed's mark when this subscriber joined.
    pub start: i64,
    _slot: SlotGuard,
}

/// Removes its slot from the feed when the subscriber goes away.
struct SlotGuard {
    feed: Weak<Feed>,
    id: u64,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        if let Some(feed) = self.feed.upgrade() {
            let empty = {
                let mut state = lock(&feed.state);
                state.slots.retain(|s| s.id != self.id);
                state.slots.is_empty()
            };
            if empty {
                // Let the feed notice and stop.
                feed.wake.notify_one();
            }
        }
    }
}

impl Stream for LiveEvents {
    type Item = Live<Arc<event::Model>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.lagged.swap(false, Ordering::AcqRel) {
            return Poll::Ready(Some(Live::Lagged));
        }
        self.rx.poll_recv(cx).map(|e| e.map(Live::Event))
    }
}

/// A poisoned lock only means another thread panicked holding it; the data is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Hub {
    /// A hub reading from `db`, with `buffer` events of room per subscriber.
    pub fn new(db: DatabaseConnection, buffer: usize) -> Arc<Self> {
        Arc::new(Self {
            db,
            buffer: buffer.max(1),
            feeds: Mutex::new(HashMap::new()),
            next_slot: AtomicU64::new(1),
        })
    }

    /// Live events of `tenant` matching `filter`, from now on.
    pub async fn subscribe(
        self: &Arc<Self>,
        tenant: &str,
        filter: EventFilter,
    ) -> Result<LiveEvents, sea_orm::DbErr> {
        loop {
            let existing = lock(&self.feeds).get(tenant).cloned();
            let feed = match existing {
                Some(feed) => feed,
                None => {
                    // Start from the newest event now: a live subscriber wants what comes next.
                    let mark = store::latest_id(&self.db, tenant).await?.unwrap_or(0);
                    let mut feeds = lock(&self.feeds);
                    match feeds.get(tenant) {
                        // Another subscriber started it meanwhile.
                        Some(feed) => feed.clone(),
                        None => {
                            let feed = Arc::new(Feed {
                                tenant: tenant.to_string(),
                                state: Mutex::new(FeedState {
                                    mark,
                                    slots: Vec::new(),
                                    closed: false,
                                }),
                                wake: Notify::new(),
                            });
                            feeds.insert(tenant.to_string(), feed.clone());
                            tokio::spawn(run_feed(Arc::downgrade(self), feed.clone()));
                            feed
                        }
                    }
                }
            };
            let (tx, rx) = mpsc::channel(self.buffer);
            let lagged = Arc::new(AtomicBool::new(false));
            let id = self.next_slot.fetch_add(1, Ordering::Relaxed);
            let start = {
                let mut state = lock(&feed.state);
                if state.closed {
                    continue;
                }
                state.slots.push(Slot {
                    id,
                    filter: filter.clone(),
                    tx,
                    lagged: lagged.clone(),
                });
                state.mark
            };
            // A commit may have landed between the mark and now: look again.
            feed.wake.notify_one();
            return Ok(LiveEvents {
                rx,
                lagged,
                start,
                _slot: SlotGuard {
                    feed: Arc::downgrade(&feed),
                    id,
                },
            });
        }
    }

    /// News that `tenant` committed events: its feed (if any) reads again.
    pub fn poke(&self, tenant: &str) {
        if let Some(feed) = lock(&self.feeds).get(tenant) {
            feed.wake.notify_one();
        }
    }

    /// Hands `rows`, just committed by `tenant` in commit order, to its feed (if any) without
    /// reading them back: only a bus that can vouch for the order may call this.
    pub fn publish(&self, tenant: &str, rows: Vec<event::Model>) {
        let feed = lock(&self.feeds).get(tenant).cloned();
        if let Some(feed) = feed {
            dispatch(&feed, rows);
        }
    }

    /// Every feed reads again (after a lost connection to the news).
    pub fn poke_all(&self) {
        for feed in lock(&self.feeds).values() {
            feed.wake.notify_one();
        }
    }

    /// How many subscribers the feeds have (for metrics and tests).
    pub fn subscribers(&self) -> usize {
        lock(&self.feeds)
            .values()
            .map(|f| lock(&f.state).slots.len())
            .sum()
    }

    /// Stops `feed` if it has no subscribers; true when it stopped.
    fn retire_if_idle(&self, feed: &Arc<Feed>) -> bool {
        let mut feeds = lock(&self.feeds);
        let mut state = lock(&feed.state);
        if !state.slots.is_empty() {
            return false;
        }
        state.closed = true;
        if feeds
            .get(&feed.tenant)
            .is_some_and(|f| Arc::ptr_eq(f, feed))
        {
            feeds.remove(&feed.tenant);
        }
        true
    }
}

/// A feed's loop: wait for news, read everything after the mark, hand it out; stop when no
/// one listens.
async fn run_feed(hub: Weak<Hub>, feed: Arc<Feed>) {
    loop {
        let _ = tokio::time::timeout(RESCAN, feed.wake.notified()).await;
        let Some(hub) = hub.upgrade() else { return };
        if hub.retire_if_idle(&feed) {
            return;
        }
        loop {
            let mark = lock(&feed.state).mark;
            let rows = match store::page(
                &hub.db,
                &feed.tenant,
                &EventFilter::default(),
                Some(mark),
                FEED_PAGE,
            )
            .await
            {
                Ok(rows) => rows,
                Err(err) => {
                    tracing::warn!(tenant = %feed.tenant, error = %err, "reading new events failed; retrying");
                    tokio::time::sleep(RETRY).await;
                    continue;
                }
            };
            let full = rows.len() as u64 == FEED_PAGE;
            if rows.is_empty() {
                break;
            }
            dispatch(&feed, rows);
            if !full {
                break;
            }
        }
    }
}

/// Hands `rows` (oldest first, all after the mark) to the matching subscribers and moves the
/// mark past them. Never waits: a full queue drops the event for that subscriber and marks it
/// lagged.
fn dispatch(feed: &Feed, rows: Vec<event::Model>) {
    let mut state = lock(&feed.state);
    for row in rows {
        if row.id <= state.mark {
            continue;
        }
        state.mark = row.id;
        let row = Arc::new(row);
        for slot in &state.slots {
            if slot.filter.matches(&row) && slot.tx.try_send(row.clone()).is_err() {
                slot.lagged.store(true, Ordering::Release);
            }
        }
    }
}
