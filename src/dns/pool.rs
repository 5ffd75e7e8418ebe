//! A bounded pool of UDP sockets for one name server, each socket shared by
//! many concurrent queries, as unbound's `outgoing-range` shares its ports.
//!
//! Opening and closing a socket for every query cost about a fifth of the
//! CPU of `certvigil check` (docs/bench-check.md); the pool keeps both kinds
//! of entropy RFC 5452 asks a resolver to put in each query, at a fraction
//! of that cost:
//! - **port** (§9.2, §10): every socket is bound by the OS to a random
//!   ephemeral port and connected to the server, so the kernel drops
//!   datagrams from any other address. A socket is retired, and its slot
//!   reopened on a new random port, after [`Limits::queries_per_socket`]
//!   queries or [`Limits::lifetime`], whichever comes first, so a port an
//!   attacker may have learnt is soon worthless. A retired socket takes no
//!   new query and is closed once its last query has ended.
//! - **ID** (§4.1, §9.1): every query gets a random ID from a CSPRNG, drawn
//!   again while it is in use by another query in flight on the same socket,
//!   so no two queries of a socket can be confused.
//!
//! One receive task per socket reads every datagram into the socket's one
//! receive buffer and hands it to the query that waits for it, matched on
//! (ID, question name, type, class) (§4.1). Anything else (an unknown ID, a
//! question that is not the one asked, a query rather than a response) is
//! dropped and the query goes on waiting for its real answer until its
//! deadline. As before the pool, a datagram with the ID of a waiting query
//! that cannot be parsed ends that query as malformed.
//!
//! The pool needs a tokio runtime only when a query is made: sockets are
//! opened on first use, and a socket whose receive task is gone (its
//! runtime shut down) is replaced the next time its slot is used.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use super::exchange::{ExchangeError, answers_question};
use super::wire::{self, Question, Response};

/// How many sockets a pool keeps and how long each is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Sockets open at once for new queries (retired ones may still be
    /// finishing their last queries).
    pub sockets: usize,
    /// Queries sent on a socket before it is retired.
    pub queries_per_socket: u32,
    /// How long a socket takes new queries after it was opened.
    pub lifetime: Duration,
}

/// What a receive task hands to the query it matched.
type Delivery = Result<Response, ExchangeError>;

type Slot = Mutex<Option<Arc<Shared>>>;

/// The UDP sockets used to ask one server.
pub(crate) struct UdpPool {
    server: SocketAddr,
    limits: Limits,
    slots: Arc<[Slot]>,
    /// Round robin over the slots, so queries spread over every socket.
    next: AtomicUsize,
}

/// One socket, shared by its queries and its receive task.
struct Shared {
    socket: UdpSocket,
    server: SocketAddr,
    state: Mutex<State>,
    /// Wakes the receive task to check whether it may end.
    wake: Notify,
}

struct State {
    /// The queries in flight on this socket, by ID. An entry lives as long
    /// as its [`Lease`], so an ID is never reused while its query waits,
    /// even after its answer was delivered.
    waiters: HashMap<u16, Waiter>,
    /// Queries sent on the socket so far.
    leased: u32,
    /// Takes no new query; closes once `waiters` is empty.
    retired: bool,
}

struct Waiter {
    expected: Question,
    /// Taken when the answer (or a failure) is delivered.
    reply: Option<oneshot::Sender<Delivery>>,
}

/// A query's place on a socket: its ID, and where its answer arrives.
/// Dropping it (answer, timeout or cancellation) frees the ID.
pub(crate) struct Lease {
    shared: Arc<Shared>,
    id: u16,
    reply: oneshot::Receiver<Delivery>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data behind these locks stays consistent at every point a panic
    // could occur, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl UdpPool {
    /// An empty pool: sockets are opened by the first queries.
    pub(crate) fn new(server: SocketAddr, limits: Limits) -> Self {
        let sockets = limits.sockets.max(1);
        Self {
            server,
            limits: Limits {
                sockets,
                queries_per_socket: limits.queries_per_socket.max(1),
                lifetime: limits.lifetime,
            },
            slots: (0..sockets).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    pub(crate) fn server(&self) -> SocketAddr {
        self.server
    }

    /// Registers a query for `expected` on one of the sockets, with a fresh
    /// ID. Must be called within a tokio runtime (it may open a socket).
    pub(crate) fn lease(&self, expected: Question) -> Result<Lease, ExchangeError> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = lock(&self.slots[index]);
        let budget = self.limits.queries_per_socket;
        let mut expected = Some(expected);
        if let Some(shared) = slot.as_ref() {
            match shared.register(&mut expected, budget) {
                Some((lease, exhausted)) => {
                    if exhausted {
                        *slot = None;
                    }
                    return Ok(lease);
                }
                // Retired (budget, age, error, or its runtime is gone):
                // its slot gets a new socket on a new port.
                None => *slot = None,
            }
        }
        let shared = self.open(index)?;
        let (lease, exhausted) = shared
            .register(&mut expected, budget)
            .expect("a socket just opened takes a query");
        if !exhausted {
            *slot = Some(shared);
        }
        Ok(lease)
    }

    /// Opens a socket on a port the OS picks at random, connected to the
    /// server, and starts its receive task.
    fn open(&self, index: usize) -> Result<Arc<Shared>, ExchangeError> {
        let server = self.server;
        let local: SocketAddr = if server.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let opened = (|| {
            let socket = std::net::UdpSocket::bind(local)?;
            socket.connect(server)?;
            socket.set_nonblocking(true)?;
            UdpSocket::from_std(socket)
        })()
        .map_err(|e| {
            ExchangeError::Network(format!("cannot open a UDP socket to {server}: {e}"))
        })?;
        let shared = Arc::new(Shared {
            socket: opened,
            server,
            state: Mutex::new(State {
                waiters: HashMap::new(),
                leased: 0,
                retired: false,
            }),
            wake: Notify::new(),
        });
        tokio::spawn(receive(
            Arc::clone(&shared),
            Arc::downgrade(&self.slots),
            index,
            Instant::now() + self.limits.lifetime,
        ));
        Ok(shared)
    }
}

impl Drop for UdpPool {
    /// The handle is gone: every socket closes once its queries have ended.
    fn drop(&mut self) {
        for slot in self.slots.iter() {
            if let Some(shared) = lock(slot).take() {
                shared.retire();
            }
        }
    }
}

impl Shared {
    /// Adds a query with a random ID unused on this socket. `None` when
    /// the socket is retired; otherwise also whether this query used up the
    /// socket's budget (it is then retired).
    fn register(
        self: &Arc<Self>,
        expected: &mut Option<Question>,
        budget: u32,
    ) -> Option<(Lease, bool)> {
        let mut state = lock(&self.state);
        if state.retired {
            return None;
        }
        // At most a few hundred IDs are in use (the handle's in-flight
        // bound), so a free one is found in a draw or two.
        let id = loop {
            let id: u16 = rand::random();
            if !state.waiters.contains_key(&id) {
                break id;
            }
        };
        let (tx, rx) = oneshot::channel();
        state.waiters.insert(
            id,
            Waiter {
                expected: expected.take().expect("registered once"),
                reply: Some(tx),
            },
        );
        state.leased += 1;
        let exhausted = state.leased >= budget;
        if exhausted {
            state.retired = true;
        }
        drop(state);
        let lease = Lease {
            shared: Arc::clone(self),
            id,
            reply: rx,
        };
        Some((lease, exhausted))
    }

    fn retire(&self) {
        lock(&self.state).retired = true;
        self.wake.notify_one();
    }

    /// Hands a datagram to the query it answers, or drops it.
    fn dispatch(&self, datagram: &[u8]) {
        let Some(id) = wire::peek_id(datagram) else {
            return;
        };
        let waiting = |state: &State| state.waiters.get(&id).is_some_and(|w| w.reply.is_some());
        if !waiting(&lock(&self.state)) {
            return;
        }
        // Decoded outside the lock, so other queries can register meanwhile.
        let decoded = wire::decode_response(datagram);
        let mut state = lock(&self.state);
        let Some(waiter) = state.waiters.get_mut(&id) else {
            return;
        };
        let delivery = match decoded {
            Ok(response) if !response.head.is_response => return,
            Ok(response) if !answers_question(&response, &waiter.expected) => return,
            Ok(response) => Ok(response),
            // The ID matched, so this is most likely the server's answer,
            // broken; waiting on would turn it into a misleading timeout.
            Err(e) => Err(ExchangeError::Malformed(e.0)),
        };
        if let Some(reply) = waiter.reply.take() {
            let _ = reply.send(delivery);
        }
    }

    /// A receive error on a connected UDP socket is the server's (an ICMP
    /// port or host unreachable, RFC 1122 §4.1.3.3): every query in flight
    /// on it went to that server, so each fails with it, and the socket is
    /// retired so that new queries start on a fresh one.
    fn fail_all(&self, error: &std::io::Error) {
        let mut state = lock(&self.state);
        state.retired = true;
        for waiter in state.waiters.values_mut() {
            if let Some(reply) = waiter.reply.take() {
                let _ = reply.send(Err(ExchangeError::Network(format!(
                    "no UDP answer from {}: {error}",
                    self.server
                ))));
            }
        }
    }

    fn finished(&self) -> bool {
        let state = lock(&self.state);
        state.retired && state.waiters.is_empty()
    }
}

impl Lease {
    pub(crate) fn id(&self) -> u16 {
        self.id
    }

    /// Sends the query (which must carry [`Lease::id`]).
    pub(crate) async fn send(&self, query: &[u8]) -> Result<(), ExchangeError> {
        self.shared
            .socket
            .send(query)
            .await
            .map(|_| ())
            .map_err(|e| {
                ExchangeError::Network(format!(
                    "cannot send to {} over UDP: {e}",
                    self.shared.server
                ))
            })
    }

    /// Waits for the answer; the caller bounds the wait.
    pub(crate) async fn answer(&mut self) -> Delivery {
        match (&mut self.reply).await {
            Ok(delivery) => delivery,
            Err(_) => Err(ExchangeError::Network(format!(
                "no UDP answer from {}: the socket was closed",
                self.shared.server
            ))),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut state = lock(&self.shared.state);
        state.waiters.remove(&self.id);
        let finished = state.retired && state.waiters.is_empty();
        drop(state);
        if finished {
            self.shared.wake.notify_one();
        }
    }
}

/// Marks the socket retired and fails its waiting queries when the receive
/// task ends for any reason, including its runtime shutting down.
struct Stopped<'a>(&'a Shared);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.0.state);
        state.retired = true;
        for waiter in state.waiters.values_mut() {
            waiter.reply = None;
        }
    }
}

/// Reads the socket until it is retired and its last query has ended.
async fn receive(shared: Arc<Shared>, slots: Weak<[Slot]>, index: usize, retire_at: Instant) {
    let _stopped = Stopped(&shared);
    // One receive buffer per socket. 65535 octets: the largest datagram, so
    // an oversized answer is read whole and judged rather than cut by us.
    // Reserved, not zeroed: only the octets that arrive are written.
    let mut buf: Vec<u8> = Vec::with_capacity(65_535);
    let expiry = tokio::time::sleep_until(retire_at);
    tokio::pin!(expiry);
    let mut expired = false;
    loop {
        if shared.finished() {
            return;
        }
        buf.clear();
        tokio::select! {
            received = shared.socket.recv_buf(&mut buf) => match received {
                Ok(len) => shared.dispatch(&buf[..len]),
                Err(e) => shared.fail_all(&e),
            },
            () = shared.wake.notified() => {}
            () = &mut expiry, if !expired => {
                expired = true;
                // Out of its slot, so the next query there opens a new
                // socket, and this one closes even if no query comes.
                if let Some(slots) = slots.upgrade() {
                    let mut slot = lock(&slots[index]);
                    if slot.as_ref().is_some_and(|s| Arc::ptr_eq(s, &shared)) {
                        *slot = None;
                    }
                }
                lock(&shared.state).retired = true;
            }
        }
    }
}
