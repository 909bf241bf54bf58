//! The front end's syntax: tokens, lexer, untyped AST and parser.

pub mod ast;
pub mod lexer;
pub mod parser;
pub mod token;
