//! A progress bar on the terminal: total, percentage, rate and ETA (`indicatif`).
//!
//! Drawn on stderr only when stderr is a terminal and the user did not pass `-q`; in every
//! other case (CI logs, pipes, `-q`) a [`Progress`] is hidden and costs an atomic add per
//! update. The library never prints progress any other way.

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Packets a trace source counts before it updates the bar (no bar work per packet).
pub(crate) const PACKET_BATCH: u64 = 4096;

/// A progress bar, or nothing. Clones share one bar.
#[derive(Clone, Default)]
pub struct Progress(Option<ProgressBar>);

/// Whether a bar [`Progress::new`] makes with `enabled` is drawn: stderr is a terminal.
pub fn drawn(enabled: bool) -> bool {
    enabled && std::io::stderr().is_terminal()
}

impl Progress {
    /// A bar over `total` `unit`s with `label` in front, drawn on stderr when `enabled` and
    /// stderr is a terminal ([`drawn`]); hidden otherwise.
    pub fn new(label: &str, total: u64, unit: &str, enabled: bool) -> Progress {
        if !drawn(enabled) {
            return Progress(None);
        }
        let target = ProgressDrawTarget::stderr();
        let template = format!(
            "{{prefix}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} {{percent}}% · {{per_sec}} · ETA {{eta}}"
        );
        // The template is a constant apart from `unit`, which the callers pass as a word.
        let style = ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(total), target).with_style(style);
        bar.set_prefix(format!("offsim: {label}"));
        Progress(Some(bar))
    }

    /// A hidden bar.
    pub fn hidden() -> Progress {
        Progress(None)
    }

    /// Whether the bar is drawn.
    pub fn is_visible(&self) -> bool {
        self.0.is_some()
    }

    /// Advance by `n`.
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc(n);
        }
    }

    /// Grow the total by `n` (a search that probes more than planned).
    pub fn inc_length(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.inc_length(n);
        }
    }

    /// Remove the bar from the terminal.
    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// Off a terminal (as under `cargo test`), a bar is never drawn.
    #[test]
    fn hidden_off_a_terminal_or_when_quiet() {
        assert!(!Progress::new("x", 10, "packets", false).is_visible());
        if !std::io::stderr().is_terminal() {
            assert!(!Progress::new("x", 10, "packets", true).is_visible());
        }
        let p = Progress::hidden();
        p.inc(5);
        p.finish();
    }
}
