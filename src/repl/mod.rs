//! `twin repl`: an interactive session over the checker, the unit table and the runner.
//!
//! [`session`] holds the state and interprets what is typed (pure: text in, text out, so scripted
//! sessions test it without a terminal); [`frontend`] is the terminal around it (rustyline line
//! editing, history, completion, multi-line entry) and the non-interactive mode for piped input;
//! [`display`] formats numbers, units, tables and sparklines.

pub mod display;
pub mod frontend;
pub mod session;

pub use session::{Reply, Session, Step};
