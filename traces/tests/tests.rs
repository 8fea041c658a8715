//! The integration tests of offsim-traces, in one test binary (ripgrep's layout: one link
//! step instead of one per file). Each module is a former test file:
//!
//! - [`r#gen`]: generated traces read back through the crate's reader and parser;
//! - [`gen_tools`]: generated traces checked by `tcpdump` and `tshark` (skips without them);
//! - [`prop`]: property tests of the frame parser and the capture reader;
//! - [`real_captures`]: `trace info` on fetched real captures against tshark/capinfos;
//! - [`variants`]: one trace in every supported encoding gives one summary;
//!
//! and [`util`] holds what they share.

mod r#gen;
mod gen_tools;
mod prop;
mod real_captures;
mod skiplog;
mod util;
mod variants;
