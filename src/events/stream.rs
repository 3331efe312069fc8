//! Replay, then live (DESIGN.md §7): the one function every subscription's events go through.
//!
//! With a cursor, the stored events after it come first, read from the table page by page;
//! then the live ones. The live source is subscribed to *before* the first read, so an event
//! committed during the replay is in the live source's queue; whatever the replay already
//! delivered is dropped from the live side by id, so the switch has no gap and no repeat.
//!
//! A live source that overflowed (the subscriber fell behind) reports `Lagged`: the stream
//! catches up from the table after the last id it delivered, then goes back to live. If it is
//! still behind after `max_catch_ups` catch-ups in a row, the stream ends with `Lagging`, naming
//! that last id, so the client resumes from it and loses nothing.
//!
//! Pure: the reads and the live source are given, so tables of cases test it without a
//! database or a socket.

use futures_util::stream::{self, Stream, StreamExt};
use std::collections::VecDeque;
use std::future::Future;

/// Something with an event id.
pub trait HasId {
    fn id(&self) -> i64;
}

impl HasId for entity::event::Model {
    fn id(&self) -> i64 {
        self.id
    }
}

impl<T: HasId> HasId for std::sync::Arc<T> {
    fn id(&self) -> i64 {
        (**self).id()
    }
}

/// What a live source yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Live<T> {
    Event(T),
    /// Events were dropped for this subscriber: catch up from the table.
    Lagged,
}

/// Where a stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Replay the stored events after this id, then go live.
    After(i64),
    /// Live only: the live source delivers the events after this id (its high-water mark
    /// when it was subscribed).
    Live(i64),
}

/// Why a stream ended early.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamError<E> {
    /// A read of the table failed (or refused the cursor).
    Read(E),
    /// Still behind after the allowed catch-ups: resume after this id.
    Lagging { resume_after: i64 },
}

/// The tuning of a stream.
#[derive(Debug, Clone, Copy)]
pub struct StreamConfig {
    /// Events per read of the table; a shorter page means the table is exhausted for now.
    pub page: usize,
    /// Catch-ups in a row before the stream gives up with `Lagging`.
    pub max_catch_ups: u32,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            page: 500,
            max_catch_ups: 3,
        }
    }
}

enum Phase {
    /// Reading the table after `last` until a short page.
    Reading,
    Live,
    Done,
}

struct State<R, L, T> {
    read: R,
    live: L,
    phase: Phase,
    buffer: VecDeque<T>,
    /// The last id delivered (or, live only, the start mark).
    last: i64,
    catch_ups: u32,
    config: StreamConfig,
}

/// The events of one subscription: `read(after, limit)` gives stored events after `after`,
/// oldest first; `live` the live ones. Yields each event once, in id order.
pub fn replay_then_live<T, E, R, F, L>(
    start: Start,
    read: R,
    live: L,
    config: StreamConfig,
) -> impl Stream<Item = Result<T, StreamError<E>>>
where
    T: HasId,
    R: FnMut(i64, usize) -> F,
    F: Future<Output = Result<Vec<T>, E>>,
    L: Stream<Item = Live<T>> + Unpin,
{
    let (phase, last) = match start {
        Start::After(after) => (Phase::Reading, after),
        Start::Live(mark) => (Phase::Live, mark),
    };
    let state = State {
        read,
        live,
        phase,
        buffer: VecDeque::<T>::new(),
        last,
        catch_ups: 0,
        config,
    };
    stream::unfold(state, |mut s| async move {
        loop {
            if let Some(event) = s.buffer.pop_front() {
                s.last = event.id();
                return Some((Ok(event), s));
            }
            match s.phase {
                Phase::Done => return None,
                Phase::Reading => match (s.read)(s.last, s.config.page).await {
                    Ok(page) => {
                        if page.len() < s.config.page {
                            s.phase = Phase::Live;
                        }
                        let last = s.last;
                        s.buffer.extend(page.into_iter().filter(|e| e.id() > last));
                    }
                    Err(err) => {
                        s.phase = Phase::Done;
                        return Some((Err(StreamError::Read(err)), s));
                    }
                },
                Phase::Live => match s.live.next().await {
                    None => return None,
                    Some(Live::Event(event)) => {
                        if event.id() > s.last {
                            s.catch_ups = 0;
                            s.last = event.id();
                            return Some((Ok(event), s));
                        }
                    }
                    Some(Live::Lagged) => {
                        if s.catch_ups >= s.config.max_catch_ups {
                            s.phase = Phase::Done;
                            let resume_after = s.last;
                            return Some((Err(StreamError::Lagging { resume_after }), s));
                        }
                        s.catch_ups += 1;
                        s.phase = Phase::Reading;
                    }
                },
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Debug, Clone, Copy, PartialEq)]
    struct E(i64);
    impl HasId for E {
        fn id(&self) -> i64 {
            self.0
        }
    }

    /// A table whose contents can change between reads (writers committing during a replay).
    #[derive(Clone, Default)]
    struct Table {
        rows: Arc<Mutex<Vec<i64>>>,
        /// Rows appended after each read, to model commits during the replay.
        after_read: Arc<Mutex<VecDeque<Vec<i64>>>>,
        reads: Arc<Mutex<usize>>,
        pruned_through: i64,
    }

    impl Table {
        fn with(rows: &[i64]) -> Self {
            let t = Self::default();
            t.rows.lock().unwrap().extend(rows);
            t
        }
        fn read(&self) -> impl FnMut(i64, usize) -> std::future::Ready<Result<Vec<E>, String>> {
            let t = self.clone();
            move |after, limit| {
                *t.reads.lock().unwrap() += 1;
                if after < t.pruned_through {
                    return std::future::ready(Err(format!("pruned through {}", t.pruned_through)));
                }
                let page: Vec<E> = t
                    .rows
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|id| **id > after)
                    .take(limit)
                    .map(|id| E(*id))
                    .collect();
                if let Some(more) = t.after_read.lock().unwrap().pop_front() {
                    t.rows.lock().unwrap().extend(more);
                }
                std::future::ready(Ok(page))
            }
        }
    }

    fn live(items: Vec<Live<E>>) -> impl Stream<Item = Live<E>> + Unpin {
        stream::iter(items)
    }

    async fn run(
        start: Start,
        table: &Table,
        items: Vec<Live<E>>,
        page: usize,
    ) -> Vec<Result<i64, StreamError<String>>> {
        let config = StreamConfig {
            page,
            max_catch_ups: 3,
        };
        replay_then_live(start, table.read(), live(items), config)
            .map(|r| r.map(|e| e.0))
            .collect()
            .await
    }

    use Live::{Event as Ev, Lagged};

    #[tokio::test]
    async fn cases() {
        struct Case {
            name: &'static str,
            start: Start,
            table: Table,
            live: Vec<Live<E>>,
            page: usize,
            want: Vec<Result<i64, StreamError<String>>>,
        }
        let cases = vec![
            Case {
                name: "live only: everything after the mark, nothing before",
                start: Start::Live(10),
                table: Table::with(&[9, 10]),
                live: vec![Ev(E(11)), Ev(E(12))],
                page: 2,
                want: vec![Ok(11), Ok(12)],
            },
            Case {
                name: "empty history, then live",
                start: Start::After(0),
                table: Table::default(),
                live: vec![Ev(E(1)), Ev(E(2))],
                page: 2,
                want: vec![Ok(1), Ok(2)],
            },
            Case {
                name: "replay then live, overlap at the switch dropped",
                start: Start::After(3),
                table: Table::with(&[2, 3, 4, 5, 6]),
                live: vec![Ev(E(5)), Ev(E(6)), Ev(E(7))],
                page: 2,
                want: vec![Ok(4), Ok(5), Ok(6), Ok(7)],
            },
            Case {
                name: "a burst committed during the replay: read on, then no repeats",
                start: Start::After(0),
                table: {
                    let t = Table::with(&[1, 2]);
                    t.after_read.lock().unwrap().extend([vec![3, 4], vec![5]]);
                    t
                },
                live: vec![Ev(E(3)), Ev(E(4)), Ev(E(5)), Ev(E(6))],
                page: 2,
                want: vec![Ok(1), Ok(2), Ok(3), Ok(4), Ok(5), Ok(6)],
            },
            Case {
                name: "lag: catch up from the table after the last delivered id",
                start: Start::Live(0),
                table: Table::with(&[1, 2, 3, 4, 5]),
                live: vec![Ev(E(1)), Lagged, Ev(E(5)), Ev(E(6))],
                page: 10,
                want: vec![Ok(1), Ok(2), Ok(3), Ok(4), Ok(5), Ok(6)],
            },
            Case {
                name: "still behind after three catch-ups: Lagging with the last id sent",
                start: Start::Live(0),
                table: Table::with(&[1, 2]),
                live: vec![Ev(E(1)), Lagged, Lagged, Lagged, Lagged, Ev(E(3))],
                page: 10,
                want: vec![Ok(1), Ok(2), Err(StreamError::Lagging { resume_after: 2 })],
            },
            Case {
                name: "a delivered live event resets the count",
                start: Start::Live(0),
                table: Table::with(&[1, 2, 3]),
                live: vec![Lagged, Lagged, Lagged, Ev(E(4)), Lagged, Ev(E(5))],
                page: 10,
                want: vec![Ok(1), Ok(2), Ok(3), Ok(4), Ok(5)],
            },
            Case {
                name: "a pruned cursor ends the stream with the read's error",
                start: Start::After(1),
                table: Table {
                    pruned_through: 5,
                    ..Table::with(&[6, 7])
                },
                live: vec![Ev(E(8))],
                page: 10,
                want: vec![Err(StreamError::Read("pruned through 5".into()))],
            },
            Case {
                name: "the live source ending ends the stream",
                start: Start::After(0),
                table: Table::with(&[1]),
                live: vec![],
                page: 10,
                want: vec![Ok(1)],
            },
        ];
        for c in cases {
            let got = run(c.start, &c.table, c.live, c.page).await;
            assert_eq!(got, c.want, "{}", c.name);
        }
    }

    #[tokio::test]
    async fn a_live_only_stream_never_reads_until_it_lags() {
        let table = Table::with(&[1, 2]);
        let got = run(Start::Live(2), &table, vec![Ev(E(3))], 10).await;
        assert_eq!(got, vec![Ok(3)]);
        assert_eq!(*table.reads.lock().unwrap(), 0);
    }
}
