//! TCP: [`TcpListener`] and [`TcpStream`].

mod listener;
mod stream;

pub use listener::{ListenOptions, TcpListener};
pub use stream::TcpStream;
