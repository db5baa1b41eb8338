//! `distlog-loadgen`: the load generator of distlog's benchmarks.
//!
//! The binary has two modes:
//!
//! - `send`: N concurrent ZeroMQ PUSH connections sending realistic records
//!   (the tutorial's field set, ~600 bytes, scope keys and contexts, tasks
//!   with opening and closing records) as JSON or pickle protocol 2, at a
//!   given rate or as fast as possible; prints a JSON summary of what it
//!   sent on stdout.
//! - `sink`: a minimal PULL receiver that counts messages and decodes
//!   nothing, the ceiling of the transport on this machine.
//!
//! ```text
//! distlog-loadgen sink --bind 'tcp://127.0.0.1:*' --count 100000 &
//! distlog-loadgen send --endpoint tcp://127.0.0.1:5010 --count 100000 \
//!     --connections 4 --encoding pickle --rate 20000
//! ```
//!
//! The library is the record generator and the two encoders, usable on
//! their own:
//!
//! ```
//! use distlog_loadgen::records::Stream;
//!
//! // Simulated process 0, tasks of 20 records, clock starting at 1.7e9.
//! let mut stream = Stream::new(42, 0, 20, 1.7e9);
//! let record = stream.next_record();
//! let json = record.to_json();
//! let pickle = record.to_pickle();
//! assert!(json.starts_with(b"{\"name\": "));
//! assert_eq!(&pickle[..2], b"\x80\x02"); // protocol 2
//! assert_eq!(stream.counts.records, 1);
//! ```

pub mod procstat;
pub mod records;
pub mod value;
