//! Shared test support.
#![allow(dead_code)]

pub mod process;
pub mod service;
