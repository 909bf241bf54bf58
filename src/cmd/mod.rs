//! The commands: each reads its request, calls the library ([`crate::sim`], [`crate::trial`]) and
//! writes tables and files at the edge.
//!
//! - [`fit`]: `twin fit`, MAP estimates of every subject of a dataset.
//! - [`run`]: `twin run`, one patient or every subject of an event file.
//! - [`trial`]: `twin trial` and `twin merge`: run a trial (or join shards) and write its files.

pub mod fit;
pub mod run;
pub mod trial;
