//! The integration tests of offsim-reports, in one test binary (one link instead of one per
//! file): `cargo test -p offsim-reports --test integration [MODULE::]`.
//!
//! | module | what |
//! |---|---|
//! | `json` | JSON round trips, typed errors with positions, schema checks, validation, NaN/inf |
//! | `golden` | the example reports' JSON and HTML against `tests/golden/` |
//! | `render` | every chart of every example as PNG and SVG, degenerate reports, escaping |
//! | `browser` | the pages in headless Chromium (skips when Chromium is absent) |
//! | `util` | shared helpers: scratch directories, golden files, a hostile report |

mod browser;
mod golden;
mod json;
mod render;
#[path = "../../traces/tests/skiplog.rs"]
mod skiplog;
mod util;
