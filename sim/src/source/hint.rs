//! The WAN-capture hint's part of the scan ([`super::Scan`]): a split of the trace's first
//! IP packets into sides, for [`WanHint`], done as little as gives the warning a split of the
//! whole window gives.
//!
//! - A packet that can make the hint warn ([`WanHint::can_warn`]: an IPv4 source that is
//!   globally reachable, or PPPoE) may never come: then the warning is `None` whatever the
//!   sides. The split runs from the trace's start, but if its first [`SILENT_PACKETS`] IP
//!   packets cannot warn, it stops there and the scan only watches for one that can; if one
//!   comes within the window, the hint is redone from the start when the scan finishes. A
//!   trace of documentation, benchmarking, private or IPv6 addresses alone (test traces,
//!   the generated flood) is split that far only; a capture whose first thousands of IP
//!   packets cannot warn and a later one can pays a redo.
//! - The split stops once the hint can only still change through PPPoE: once a LAN-side
//!   client with a private address is seen, [`WanHint::warning`] is settled unless a LAN-side
//!   packet carries a PPPoE session. From there it only watches for an IP packet with a
//!   PPPoE session in the window; if one comes, the hint is redone from the start with a
//!   split of the whole window.
//!
//! A redo reads the window again on the decoding thread, a cost only captures that need one
//! pay. On a LAN capture the splitter runs for a few packets instead of the first million
//! (it was 6–8 % of a one-configuration run's CPU), and on a flood of documentation and
//! benchmarking addresses for 4,096: splitting its first million was 21 % of the run's CPU
//! samples, and the run now takes 28–30 % less CPU (presumably also the cache its table of a
//! million tuples took from the engine).

use offsim_kernel::sides::{SideMode, SideSplitter, WanHint};
use offsim_traces::meta::{PacketMeta, flags};

use super::{Input, Reader, SourceError};

/// IP packets split, none of which can make the hint warn, after which the split stops
/// (the trace may hold no such packet at all).
pub(super) const SILENT_PACKETS: u64 = 4096;

/// Where the hint's split stands.
enum State {
    /// Splitting from the trace's first packet.
    Split(Box<SideSplitter>, WanHint),
    /// The split stopped: no IP packet it split could make the hint warn.
    Silent,
    /// The split stopped with the hint settled unless a PPPoE packet comes.
    Watch,
    /// A packet that can warn came after the split stopped silent: the hint is redone from
    /// the trace's start as this scan does it, without the silent stop.
    RedoScan,
    /// A PPPoE packet came after the hint settled: the hint is redone with a split of the
    /// whole window.
    RedoWhole,
    /// The hint is settled.
    Done(Option<String>),
}

/// The WAN-capture hint's scan over the trace's first `window` IP packets.
pub(super) struct HintScan {
    sides: SideMode,
    /// IP packets the hint looks at.
    window: u64,
    /// IP packets split, none of which can warn, after which the split stops.
    silent: u64,
    state: State,
    /// Some packet split could make the hint warn.
    can_warn: bool,
    #[cfg(test)]
    split: u64,
}

impl HintScan {
    /// A scan for `sides` over the first `window` IP packets, its split stopping after
    /// `silent` of them if none can warn; `None` when the sides are not guessed from the
    /// traffic (only the `flow` and `single` modes guess them, and only a guess can take a
    /// WAN capture for a LAN one).
    pub(super) fn new(sides: &SideMode, window: u64, silent: u64) -> Option<HintScan> {
        matches!(sides, SideMode::Flow | SideMode::Single)
            .then(|| HintScan::splitting(sides.clone(), window, silent))
    }

    /// A scan splitting from the trace's first packet.
    fn splitting(sides: SideMode, window: u64, silent: u64) -> HintScan {
        HintScan {
            state: fresh_split(&sides),
            sides,
            window,
            silent,
            can_warn: false,
            #[cfg(test)]
            split: 0,
        }
    }

    /// IP packets split so far (for tests): the redo's are not counted.
    #[cfg(test)]
    pub(super) fn split_packets(&self) -> u64 {
        self.split
    }

    /// Notes the trace's next packet, the `ip_packets`-th IP packet at most; `false` once
    /// the hint needs no more.
    #[inline]
    pub(super) fn note(&mut self, m: &PacketMeta, ip_packets: u64) -> bool {
        match &mut self.state {
            State::Split(sp, hint) => {
                hint.note(m, sp.side(m, m.ts));
                #[cfg(test)]
                {
                    self.split += u64::from(m.is_ip());
                }
                self.can_warn = self.can_warn || WanHint::can_warn(m);
                // The hint needs the capture's start, not all of it: the splitter's tuples
                // would otherwise follow every flow of a long trace.
                if ip_packets >= self.window {
                    self.state = State::Done(hint.warning());
                } else if hint.settled_but_pppoe() {
                    self.state = State::Watch;
                } else if !self.can_warn && ip_packets >= self.silent {
                    self.state = State::Silent;
                }
            }
            State::Silent => {
                if WanHint::can_warn(m) {
                    // The sides of the packets before decide this one's: a split begun
                    // here would not be the trace's.
                    self.state = State::RedoScan;
                } else if ip_packets >= self.window {
                    self.state = State::Done(None);
                }
            }
            State::Watch => {
                if m.is_ip() && m.has(flags::PPPOE) {
                    self.state = State::RedoWhole;
                } else if ip_packets >= self.window {
                    self.state = State::Done(None);
                }
            }
            State::RedoScan | State::RedoWhole | State::Done(_) => {}
        }
        matches!(self.state, State::Split(..) | State::Silent | State::Watch)
    }

    /// The warning, the hint redone over `input` when the scan needs it.
    pub(super) fn finish(self, input: &Input) -> Result<Option<String>, SourceError> {
        Ok(match self.state {
            State::Split(_, hint) => hint.warning(),
            State::Silent | State::Watch => None,
            State::Done(w) => w,
            State::RedoWhole => wan_hint(input, &self.sides, self.window)?,
            State::RedoScan => {
                // A packet that can warn is in the window: no silent stop this time.
                let mut s = HintScan::splitting(self.sides, self.window, u64::MAX);
                let (mut r, mut m, mut ip) = (Reader::open(input)?, PacketMeta::default(), 0);
                while r.next_into(&mut m)? {
                    ip += u64::from(m.is_ip());
                    if !s.note(&m, ip) {
                        break;
                    }
                }
                s.finish(input)?
            }
        })
    }
}

/// A split from the trace's first packet.
fn fresh_split(sides: &SideMode) -> State {
    State::Split(
        Box::new(SideSplitter::new(sides.clone())),
        WanHint::default(),
    )
}

/// The WAN-capture hint from a split of the trace's first `window` IP packets.
pub(super) fn wan_hint(
    input: &Input,
    sides: &SideMode,
    window: u64,
) -> Result<Option<String>, SourceError> {
    let mut r = Reader::open(input)?;
    let (mut sp, mut hint) = (SideSplitter::new(sides.clone()), WanHint::default());
    let (mut ip, mut m) = (0, PacketMeta::default());
    while r.next_into(&mut m)? {
        hint.note(&m, sp.side(&m, m.ts));
        ip += u64::from(m.is_ip());
        if ip >= window {
            break;
        }
    }
    Ok(hint.warning())
}
