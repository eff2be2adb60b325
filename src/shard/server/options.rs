//! How a sharded server is set up: [`Balance`] (how the acceptor picks a shard),
//! [`Distribution`] (one `SO_REUSEPORT` listener per shard, or one acceptor) and
//! [`ShardedServerOptions`] (the distribution and the backlog).

use crate::net::socket::DEFAULT_BACKLOG;

#[cfg(doc)]
use super::{start_server_sharded, start_unix_server_sharded, ShardedServer};

/// How a shard picks the shard that serves a connection in
/// [`Distribution::Acceptor`] mode.
///
/// ```
/// use ringloop::shard::{Balance, Distribution, ShardedServerOptions};
/// let options = ShardedServerOptions::new().distribution(Distribution::Acceptor(Balance::LeastLoaded));
/// assert_eq!(options.get_distribution(), Distribution::Acceptor(Balance::LeastLoaded));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Balance {
    /// Each shard in turn (shards that have stopped are skipped).
    #[default]
    RoundRobin,
    /// The shard with the fewest live connections (those being handed to it
    /// included); ties go to each of the tied shards in turn.
    LeastLoaded,
}

/// How a sharded server spreads its connections over the shards.
///
/// ```
/// use ringloop::shard::{Balance, Distribution};
/// assert_eq!(Distribution::default(), Distribution::ReusePort);
/// let _one_acceptor = Distribution::Acceptor(Balance::RoundRobin);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Distribution {
    /// One `SO_REUSEPORT` listener per shard, all on the same address (the first,
    /// on the calling shard, picks the port for port 0; the others bind that
    /// port): the kernel spreads connections over the listeners by a hash of
    /// their addresses and ports, and each shard accepts its own. No call between
    /// shards per connection; the spread is even only on average.
    ///
    /// **Connections queued on a listener that closes are lost.** When one
    /// shard's listener closes (a [`close`](ShardedServer::close), a stop, a
    /// shard that ends) while connections the kernel assigned to it wait in its
    /// accept queue, Linux resets them (unless `net.ipv4.tcp_migrate_req` is set,
    /// Linux 5.14+, which moves them to another listener of the group): their
    /// clients see `ECONNRESET` and must retry. [`Distribution::Acceptor`] loses
    /// none: a connection accepted for a shard that stops is served by another.
    #[default]
    ReusePort,
    /// One listener, on the calling shard, which accepts every connection and
    /// hands each (its descriptor) to the shard the [`Balance`] picks, through a
    /// call to that shard. If that shard has stopped, or has no part of this
    /// server any more, the connection goes to the next shard, or is served on the
    /// accepting shard: never dropped. One call per connection, and one shard's
    /// accept rate for all.
    Acceptor(Balance),
}

/// Options of [`start_server_sharded`] and [`start_unix_server_sharded`].
///
/// ```
/// use ringloop::shard::{Balance, Distribution, ShardedServerOptions};
/// let options = ShardedServerOptions::new()
///     .distribution(Distribution::Acceptor(Balance::RoundRobin))
///     .backlog(256);
/// assert_eq!(options.get_backlog(), 256);
/// ```
#[derive(Clone, Debug)]
pub struct ShardedServerOptions {
    distribution: Distribution,
    backlog: u32,
}

impl Default for ShardedServerOptions {
    fn default() -> Self {
        ShardedServerOptions {
            distribution: Distribution::ReusePort,
            backlog: DEFAULT_BACKLOG as u32,
        }
    }
}

impl ShardedServerOptions {
    /// The defaults: [`Distribution::ReusePort`], a backlog of 1024.
    ///
    /// ```
    /// let options = ringloop::shard::ShardedServerOptions::new();
    /// assert_eq!(options.get_distribution(), ringloop::shard::Distribution::ReusePort);
    /// assert_eq!(options.get_backlog(), 1024);
    /// ```
    pub fn new() -> ShardedServerOptions {
        ShardedServerOptions::default()
    }

    /// How connections are spread over the shards.
    ///
    /// ```
    /// use ringloop::shard::{Balance, Distribution, ShardedServerOptions};
    /// let options = ShardedServerOptions::new().distribution(Distribution::Acceptor(Balance::RoundRobin));
    /// assert_eq!(options.get_distribution(), Distribution::Acceptor(Balance::RoundRobin));
    /// ```
    pub fn distribution(mut self, distribution: Distribution) -> ShardedServerOptions {
        self.distribution = distribution;
        self
    }

    /// The length of each listener's queue of connections not yet accepted (the
    /// kernel caps it at `net.core.somaxconn`).
    ///
    /// ```
    /// let options = ringloop::shard::ShardedServerOptions::new().backlog(64);
    /// assert_eq!(options.get_backlog(), 64);
    /// ```
    pub fn backlog(mut self, backlog: u32) -> ShardedServerOptions {
        self.backlog = backlog;
        self
    }

    /// The distribution set.
    ///
    /// ```
    /// let options = ringloop::shard::ShardedServerOptions::new();
    /// assert_eq!(options.get_distribution(), ringloop::shard::Distribution::ReusePort);
    /// ```
    pub fn get_distribution(&self) -> Distribution {
        self.distribution
    }

    /// The backlog set.
    ///
    /// ```
    /// assert_eq!(ringloop::shard::ShardedServerOptions::new().get_backlog(), 1024);
    /// ```
    pub fn get_backlog(&self) -> u32 {
        self.backlog
    }
}
